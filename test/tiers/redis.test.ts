// The Redis tier against real servers: the RedisTier contract on (a) the machine's Redis under a random prefix,
// (b) a standalone redis-server started here and (c) a three-master Redis Cluster started here; then the key
// layout as docs/redis.md describes it, and failure behaviour (Redis killed, frozen, absent at start).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ContentRecord } from '../../src/content/record.ts';
import { openRedisTier } from '../../src/tiers/redis.ts';
import type { Redis } from 'ioredis';
import { createClient, failFast, parseRedisUrl } from '../../src/tiers/redis-connect.ts';
import { etagNumberOf } from '../../src/content/read-result.ts';
import { decodeMeta, encodeMeta, recordKey } from '../../src/tiers/redis-keys.ts';
import { TierUnavailableError, type RedisTier } from '../../src/tiers/redis-tier.ts';
import { startRedisCluster, type RedisCluster } from '../support/redis-cluster.ts';
import { freePort, startRedisServer, type RedisServer } from '../support/redis-server.ts';
import { eventually, tierContract } from './contract.ts';
import { dropPrefix, keysByNode, randomPrefix, rawClient, SYSTEM_REDIS_URL, systemRedisAnswers } from './redis-helpers.ts';

const TIMEOUT_MS = 100; // the default command deadline, used by the failure tests
const SLACK_MS = 250; // scheduling slack on a shared 2-core machine

const rec = (collection: string, key: string, version: number, body = `v${version}`): ContentRecord => ({
  collection, key, body: Buffer.from(body), contentType: 'text/plain', version, updatedAt: 1_700_000_000_000,
});

/** Awaits `call` and returns how long it took to reject; fails if it resolves. */
async function rejectionTime(call: () => Promise<unknown>): Promise<number> {
  const start = performance.now();
  await assert.rejects(call(), (err: unknown) => {
    assert.ok(err instanceof TierUnavailableError, `expected TierUnavailableError, got ${String(err)}`);
    assert.equal(err.code, 'FG_TIER_UNAVAILABLE');
    return true;
  });
  return performance.now() - start;
}

async function waitUntilAnswers(tier: RedisTier, ms = 5_000): Promise<number> {
  const start = performance.now();
  for (;;) {
    try {
      await tier.ping();
      if (tier.healthy) return performance.now() - start;
    } catch {
      // not yet
    }
    if (performance.now() - start > ms) assert.fail(`the tier did not recover within ${ms} ms`);
    await sleep(20);
  }
}

describe('Redis tier on the machine\'s Redis', () => {
  const prefix = randomPrefix();
  before(async () => {
    assert.ok(await systemRedisAnswers(), `no Redis answers at ${SYSTEM_REDIS_URL} (set FLOODGATE_TEST_REDIS_URL)`);
  });
  after(async () => {
    await dropPrefix(SYSTEM_REDIS_URL, prefix);
  });
  tierContract(`redis (${SYSTEM_REDIS_URL}, prefix ${prefix})`, async () => openRedisTier({ url: SYSTEM_REDIS_URL, keyPrefix: prefix }));
});

describe('Redis tier on a standalone redis-server started by the test', () => {
  let server: RedisServer;
  before(async () => {
    server = await startRedisServer();
  });
  after(async () => {
    await server?.[Symbol.asyncDispose]();
  });

  tierContract('redis (test-started standalone)', async () => openRedisTier({ url: server.url, keyPrefix: randomPrefix() }));

  describe('key layout (docs/redis.md)', () => {
    const prefix = randomPrefix();
    let tier: RedisTier;
    before(async () => {
      tier = openRedisTier({ url: server.url, keyPrefix: prefix });
      await eventually('healthy', () => tier.healthy);
    });
    after(async () => {
      await tier?.close();
    });

    it('stores one hash per record at <prefix>{<collection>:<key>} with a TTL jittered ±10 %', async () => {
      await tier.set({ ...rec('news', 'a{1}', 42, 'hello'), contentType: 'text/html', updatedAt: 1234 }, 100);
      const raw = await rawClient(server.url);
      try {
        const key = `${prefix}{news:a%7B1%7D}`;
        assert.equal(recordKey(prefix, 'news', 'a{1}'), key);
        assert.deepEqual(Object.keys(await raw.hgetall(key)).sort(), ['body', 'meta', 'version']);
        assert.equal(await raw.hget(key, 'body'), 'hello');
        assert.equal(await raw.hget(key, 'version'), '42');
        const meta = decodeMeta((await raw.hgetBuffer(key, 'meta')) as Buffer);
        assert.deepEqual(meta, { etag: etagNumberOf(Buffer.from('hello')), version: 42, updatedAt: 1234, contentType: 'text/html' });
        const ttl = await raw.pttl(key);
        assert.ok(ttl > 89_000 && ttl <= 110_000, `PTTL ${ttl}`);
      } finally {
        raw.disconnect();
      }
    });

    it('reads a record back with its ETag number, so a read from Redis hashes nothing', async () => {
      await tier.set({ ...rec('news', 'meta', 7, 'body of 7'), contentType: 'application/json; charset=“utf-8”', updatedAt: 99 }, 100);
      const got = await tier.get('news', 'meta');
      assert.equal(got?.body.toString(), 'body of 7');
      assert.equal(got?.contentType, 'application/json; charset=“utf-8”', 'a type no validator saw comes back byte for byte');
      assert.equal(got?.version, 7);
      assert.equal(got?.updatedAt, 99);
      assert.equal(got?.etag, etagNumberOf(Buffer.from('body of 7')));
    });

    it('replaces a same-version record of the older layout (no meta field) instead of skipping it forever', async () => {
      const raw = await rawClient(server.url);
      try {
        const key = recordKey(prefix, 'news', 'old-layout');
        await raw.hset(key, 'body', 'old', 'type', 'text/plain', 'version', '5', 'updated_at', '1');
        await raw.pexpire(key, 100_000);
        assert.equal(await tier.get('news', 'old-layout'), undefined, 'the older layout reads as a miss');
        await tier.set({ ...rec('news', 'old-layout', 5, 'old') }, 100);
        assert.equal((await tier.get('news', 'old-layout'))?.version, 5);
        // and a same-version record of the current layout is still left alone
        await tier.set({ ...rec('news', 'old-layout', 5, 'other') }, 100);
        assert.equal((await tier.get('news', 'old-layout'))?.body.toString(), 'old');
      } finally {
        raw.disconnect();
      }
    });

    it('reads a meta field of an unknown format as a miss', async () => {
      const raw = await rawClient(server.url);
      try {
        const key = recordKey(prefix, 'news', 'future');
        const meta = encodeMeta(1, 3, 4, 'text/plain');
        meta[0] = 9;
        await raw.hset(key, 'body', 'x', 'meta', meta, 'version', '3');
        assert.equal(await tier.get('news', 'future'), undefined);
      } finally {
        raw.disconnect();
      }
    });

    it('turns a deleted record into a short-lived tombstone {version, deleted}', async () => {
      await tier.set(rec('news', 'gone', 1), 100);
      await tier.invalidate({ collection: 'news', key: 'gone', version: 2, deleted: true });
      await tier.invalidate({ collection: 'news', key: 'changed', version: 3, deleted: false });
      const raw = await rawClient(server.url);
      try {
        assert.deepEqual(await raw.hgetall(`${prefix}{news:gone}`), { version: '2', deleted: '1' });
        assert.deepEqual(await raw.hgetall(`${prefix}{news:changed}`), { version: '3', deleted: '0' });
        const ttl = await raw.pttl(`${prefix}{news:gone}`);
        assert.ok(ttl > 26_000 && ttl <= 33_000, `tombstone PTTL ${ttl} (30 s ± 10 %)`);
      } finally {
        raw.disconnect();
      }
    });

    it('rejects a key prefix with braces (it would pin every key to one Cluster slot)', () => {
      assert.throws(() => openRedisTier({ url: server.url, keyPrefix: 'fg{x}:' }), /brace/);
    });
  });

  describe('failure behaviour', () => {
    let tier: RedisTier;
    before(async () => {
      tier = openRedisTier({ url: server.url, keyPrefix: randomPrefix(), commandTimeoutMs: TIMEOUT_MS });
      await eventually('healthy', () => tier.healthy);
    });
    after(async () => {
      await tier?.close();
    });

    it('Redis killed: calls reject fast, healthy turns false; restarted: the same tier recovers by itself', async (t) => {
      await tier.set(rec('f', 'k', 1), 60);
      // A get in flight when the server dies.
      server.pause();
      const inFlight = rejectionTime(() => tier.get('f', 'k'));
      await sleep(20);
      await server.stop();
      const inFlightMs = await inFlight;
      assert.ok(inFlightMs < TIMEOUT_MS + SLACK_MS);
      const downMs: number[] = [];
      await eventually('healthy turns false', () => !tier.healthy, 1_000);
      for (const call of [() => tier.get('f', 'k'), () => tier.set(rec('f', 'k', 2), 60), () => tier.ping(),
        () => tier.invalidate({ collection: 'f', key: 'k', version: 3, deleted: true })]) {
        const ms = await rejectionTime(call);
        assert.ok(ms < TIMEOUT_MS + SLACK_MS, `rejected after ${ms.toFixed(0)} ms`);
        downMs.push(ms);
      }
      await server.restart();
      const recovered = await waitUntilAnswers(tier, 5_000);
      t.diagnostic(`in flight at kill: rejected after ${inFlightMs.toFixed(0)} ms; while down: `
        + `${downMs.map((ms) => ms.toFixed(1)).join(', ')} ms; answering ${recovered.toFixed(0)} ms after the restart`);
      assert.equal(await tier.get('f', 'k'), undefined, 'the restarted server is empty');
      await tier.set(rec('f', 'k', 4), 60);
      assert.equal((await tier.get('f', 'k'))?.version, 4);
    });

    it('Redis frozen (slow): the first call rejects at the deadline, the next ones sooner, healthy turns false, and true again once it thaws', async (t) => {
      server.pause();
      const frozenMs: number[] = [];
      try {
        for (let i = 0; i < 3; i++) {
          const ms = await rejectionTime(() => tier.get('f', `slow${i}`));
          // The first waits its deadline; the next ones queue behind it on the same connection, which answers in
          // order, so they cannot be answered before it: the stall watch rejects them at its next sweep.
          if (i === 0) assert.ok(ms >= TIMEOUT_MS - 5, `the first call rejected after ${ms.toFixed(0)} ms, before its deadline`);
          assert.ok(ms < TIMEOUT_MS + SLACK_MS, `rejected after ${ms.toFixed(0)} ms`);
          frozenMs.push(ms);
        }
        assert.equal(tier.healthy, false, 'three timeouts in a row trip the health flag');
      } finally {
        server.resume();
      }
      const thawMs = await eventually('healthy again after the thaw', () => tier.healthy, 3_000);
      await tier.ping();
      t.diagnostic(`frozen: rejected after ${frozenMs.map((ms) => ms.toFixed(0)).join(', ')} ms; healthy ${thawMs.toFixed(0)} ms after the thaw`);
    });

    it('Redis absent when the tier opens: calls fail at once; the tier connects when Redis appears', async () => {
      await server.stop();
      const late = openRedisTier({ url: server.url, keyPrefix: randomPrefix(), commandTimeoutMs: TIMEOUT_MS });
      try {
        assert.equal(late.healthy, false);
        const ms = await rejectionTime(() => late.get('f', 'k'));
        assert.ok(ms < TIMEOUT_MS + SLACK_MS);
        await sleep(300); // a few reconnect attempts fail meanwhile
        await server.restart();
        await waitUntilAnswers(late, 5_000);
        assert.equal(await late.get('f', 'k'), undefined);
      } finally {
        await late.close();
      }
    });
  });
});

describe('Redis tier on a three-master Redis Cluster started by the test', () => {
  let cluster: RedisCluster;
  before(async () => {
    cluster = await startRedisCluster();
  });
  after(async () => {
    await cluster?.[Symbol.asyncDispose]();
  });

  tierContract('redis-cluster (test-started)', async () => openRedisTier({ url: cluster.url, keyPrefix: randomPrefix() }));

  describe('placement and failure', () => {
    const prefix = randomPrefix();
    let tier: RedisTier;
    before(async () => {
      tier = openRedisTier({ url: cluster.urls, keyPrefix: prefix, commandTimeoutMs: TIMEOUT_MS });
      await eventually('healthy', () => tier.healthy);
      assert.equal(tier.name, 'redis-cluster');
    });
    after(async () => {
      await tier?.close();
    });

    it('spreads one collection\'s keys over every master (the hash tag is collection:key)', async () => {
      await Promise.all(Array.from({ length: 60 }, (_, i) => tier.set(rec('one-collection', `k${i}`, 1), 60)));
      const raw = await rawClient(cluster.url);
      try {
        const perNode = (await keysByNode(raw, prefix)).map((keys) => keys.length);
        assert.equal(perNode.reduce((a, b) => a + b, 0), 60);
        assert.equal(perNode.filter((n) => n > 0).length, 3, `keys per master: ${perNode.join(', ')}`);
        const slot = await raw.cluster('KEYSLOT', recordKey(prefix, 'one-collection', 'k1'));
        assert.equal(slot, await raw.cluster('KEYSLOT', 'one-collection:k1'), 'the slot ignores the prefix');
      } finally {
        raw.disconnect();
      }
    });

    it('one master down: its keys reject fast, the others answer; back up: everything answers again', async (t) => {
      const raw = await rawClient(cluster.url);
      let victimKeys: string[];
      let otherKeys: string[];
      try {
        // Which keys live on the first node?
        const port = cluster.nodes[0]!.port;
        const shards = await raw.cluster('SLOTS');
        const owners = await Promise.all(Array.from({ length: 30 }, async (_, i) => {
          const slot = await raw.cluster('KEYSLOT', recordKey(prefix, 'one-collection', `k${i}`));
          return shards.some(([from, to, owner]) => slot >= from && slot <= to && owner?.[1] === port);
        }));
        victimKeys = owners.flatMap((mine, i) => (mine ? [`k${i}`] : []));
        otherKeys = owners.flatMap((mine, i) => (mine ? [] : [`k${i}`]));
      } finally {
        raw.disconnect();
      }
      assert.ok(victimKeys.length > 0 && otherKeys.length > 0);
      await cluster.nodes[0]!.stop();
      const downMs: number[] = [];
      for (const k of victimKeys.slice(0, 3)) {
        const ms = await rejectionTime(() => tier.get('one-collection', k));
        assert.ok(ms < TIMEOUT_MS + SLACK_MS, `rejected after ${ms.toFixed(0)} ms`);
        downMs.push(ms);
      }
      for (const k of otherKeys.slice(0, 3)) assert.equal((await tier.get('one-collection', k))?.version, 1);
      await cluster.nodes[0]!.start();
      // A restarted master refuses commands for ~2 s while it rejoins (Redis's CLUSTER_WRITABLE_DELAY).
      const start = performance.now();
      for (;;) {
        const results = await Promise.allSettled(victimKeys.map((k) => tier.get('one-collection', k)));
        if (results.every((r) => r.status === 'fulfilled')) break;
        if (performance.now() - start > 8_000) assert.fail('the restarted master did not answer within 8 s');
        await sleep(50);
      }
      t.diagnostic(`master down: its keys rejected after ${downMs.map((ms) => ms.toFixed(0)).join(', ')} ms; `
        + `all keys answer ${(performance.now() - start).toFixed(0)} ms after the restart`);
      await cluster.waitUntilOk();
      assert.equal(tier.healthy, true);
    });
  });
});

describe('Redis tier on a Cluster nobody answers for', () => {
  it('rejects every call at once instead of holding it until the next connection attempt', async () => {
    const tier = openRedisTier({ url: `redis+cluster://127.0.0.1:${await freePort()}`, keyPrefix: randomPrefix() });
    try {
      for (const wait of [0, 300]) {
        await sleep(wait);
        assert.equal(tier.healthy, false);
        for (const call of [() => tier.get('f', 'k'), () => tier.ping(), () => tier.set(rec('f', 'k', 1), 60)]) {
          const ms = await rejectionTime(call);
          assert.ok(ms < 50, `rejected after ${ms.toFixed(0)} ms`);
        }
      }
    } finally {
      await tier.close();
    }
  });
});

describe('standalone client: the commands of one loop iteration leave in one write (coalesceWrites)', () => {
  it('corks the socket for the iteration, answers every command in order, and still fails fast when disconnected', { timeout: 30_000 }, async () => {
    await using server = await startRedisServer();
    const client = createClient(parseRedisUrl(server.url), { commandTimeoutMs: 1_000, connectionName: 'fg-test' }) as Redis;
    try {
      while (client.status !== 'ready') await sleep(10);
      // Count the socket's writes (Node's stream calls _write for one chunk, _writev for several).
      const socket = client.stream as unknown as { _write: (...a: unknown[]) => void; _writev: (...a: unknown[]) => void; writableCorked: number };
      let writes = 0;
      for (const m of ['_write', '_writev'] as const) {
        const original = socket[m].bind(socket);
        socket[m] = (...a: unknown[]) => {
          writes++;
          original(...a);
        };
      }
      await client.set('k', 'v');
      writes = 0;
      const replies = Array.from({ length: 200 }, (_, i) => client.echo(`m${i}`));
      assert.equal(socket.writableCorked, 1, 'corked while the iteration sends');
      assert.equal(writes, 0, 'nothing written before the iteration ends');
      assert.deepEqual(await Promise.all(replies), Array.from({ length: 200 }, (_, i) => `m${i}`));
      assert.equal(writes, 1, '200 commands, one write');
      assert.equal(socket.writableCorked, 0);
      // Commands of the next iteration leave in their own write, without waiting for anything else.
      writes = 0;
      assert.deepEqual(await Promise.all([client.get('k'), client.get('nope')]), ['v', null]);
      assert.equal(writes, 1);
      // Disconnected: a command rejects at once, as before.
      await server.stop();
      while (client.status === 'ready') await sleep(10);
      const t0 = performance.now();
      await assert.rejects(failFast(client, () => client.get('k')));
      assert.ok(performance.now() - t0 < 50);
    } finally {
      client.disconnect();
    }
  });
});
