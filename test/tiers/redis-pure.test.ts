// The Redis tier's pure parts, no server: URL parsing, back-off and TTL jitter bounds, the key encoding, and the
// bus's wire format.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeChange, decodeWarm, encodeChange, encodeWarm } from '../../src/bus/redis-bus.ts';
import { backoff, checkKeyPrefix, DEFAULTS, parseRedisUrl } from '../../src/tiers/redis-connect.ts';
import { jitteredTtlMs, recordKey } from '../../src/tiers/redis-keys.ts';

describe('parseRedisUrl', () => {
  it('reads a standalone URL with credentials, database and TLS', () => {
    assert.deepEqual(parseRedisUrl('rediss://u%40x:p%3Aw@cache.internal:6380/2'), {
      cluster: false, nodes: [{ host: 'cache.internal', port: 6380 }], username: 'u@x', password: 'p:w', db: 2, tls: true,
    });
    assert.deepEqual(parseRedisUrl('redis://127.0.0.1').nodes, [{ host: '127.0.0.1', port: 6379 }]);
  });

  it('treats redis+cluster:// and comma-separated URLs as a Cluster', () => {
    assert.equal(parseRedisUrl('redis+cluster://10.0.0.1:7000').cluster, true);
    const many = parseRedisUrl('redis://a:7000, redis://b:7001');
    assert.equal(many.cluster, true);
    assert.deepEqual(many.nodes, [{ host: 'a', port: 7000 }, { host: 'b', port: 7001 }]);
  });

  it('rejects what it cannot use, naming the problem but never the password', () => {
    assert.throws(() => parseRedisUrl(''), /empty/);
    assert.throws(() => parseRedisUrl('http://a:1'), /protocol http:/);
    assert.throws(() => parseRedisUrl('redis://a:1/x'), /database number/);
    assert.throws(() => parseRedisUrl('redis+cluster://a:1/3'), /database 0/);
    assert.throws(() => parseRedisUrl('redis://a:1,rediss://b:2'), /mix TLS/);
    assert.throws(() => parseRedisUrl('redis://:secret@a:1/x'), (err: Error) => !err.message.includes('secret'));
  });
});

describe('jitter', () => {
  it('reconnect back-off doubles from 50 ms to a 1 s cap, jittered between half and all of it', () => {
    assert.equal(backoff(1, () => 0), 25);
    assert.equal(backoff(1, () => 1), 50);
    assert.equal(backoff(3, () => 1), 200);
    assert.equal(backoff(50, () => 0), DEFAULTS.backoffMaxMs / 2);
    assert.equal(backoff(50, () => 1), DEFAULTS.backoffMaxMs);
  });

  it('TTLs spread ±10 %', () => {
    assert.equal(jitteredTtlMs(60, () => 0), 54_000);
    assert.equal(jitteredTtlMs(60, () => 0.5), 60_000);
    assert.equal(jitteredTtlMs(60, () => 1), 66_000);
    assert.equal(jitteredTtlMs(0.0001, () => 0), 1, 'never 0 ms (PEXPIRE 0 would delete at once)');
  });
});

describe('key layout', () => {
  it('wraps collection:key in one hash tag and escapes what could break or collide', () => {
    assert.equal(recordKey('fg:', 'news', 'user-42'), 'fg:{news:user-42}');
    assert.equal(recordKey('fg:', 'news', 'a{b}c'), 'fg:{news:a%7Bb%7Dc}');
    assert.equal(recordKey('fg:', 'news', '100%'), 'fg:{news:100%25}');
    assert.equal(recordKey('fg:', 'a:b', 'c'), 'fg:{a%3Ab:c}');
    assert.notEqual(recordKey('fg:', 'a:b', 'c'), recordKey('fg:', 'a', 'b:c'));
    assert.equal(recordKey('fg:', 'n', 'ключ 🎉'), 'fg:{n:ключ 🎉}');
  });

  it('refuses a prefix with braces', () => {
    assert.equal(checkKeyPrefix('app1:'), 'app1:');
    assert.throws(() => checkKeyPrefix('{app}:'), TypeError);
  });
});

describe('bus wire format', () => {
  it('is the Change as compact JSON, and only well-formed Changes come back', () => {
    const change = { collection: 'c', key: 'k"\n', version: 12, deleted: true };
    assert.equal(encodeChange(change), '{"collection":"c","key":"k\\"\\n","version":12,"deleted":true}');
    assert.deepEqual(decodeChange(encodeChange(change)), change);
    for (const bad of ['', 'null', '[]', '{"collection":"c","key":"k","version":1.5,"deleted":false}',
      '{"collection":"c","key":"k","version":1,"deleted":"no"}', '{"collection":1,"key":"k","version":1,"deleted":false}']) {
      assert.equal(decodeChange(bad), undefined, bad);
    }
  });

  it('carries warm notices on the same channel: no Change in them, and only well-formed ones come back', () => {
    const notice = { instance: 'i-1', collection: 'default', keys: ['1', 'ü"\n'] };
    const wire = encodeWarm(notice);
    assert.equal(wire, '{"warm":{"i":"i-1","c":"default","k":["1","ü\\"\\n"]}}');
    assert.deepEqual(decodeWarm(wire), notice);
    assert.equal(decodeChange(wire), undefined, 'a floodgate that predates warm notices ignores them');
    assert.equal(decodeWarm(encodeChange({ collection: 'c', key: 'k', version: 1, deleted: false })), undefined);
    for (const bad of ['{"warm":null}', '{"warm":{"i":"x","c":"d","k":[1]}}', '{"warm":{"i":"x","c":"d"}}', '{"warm":{"c":"d","k":[]}}']) {
      assert.equal(decodeWarm(bad), undefined, bad);
    }
  });
});
