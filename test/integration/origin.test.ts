// Issue 12: collections backed by an existing HTTP endpoint (an origin), shielded by floodgate. Real floodgate
// processes in front of a real origin server started here on a loopback port, which counts what it receives.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { metric, serve, serveExpectingExit, type Served } from '../support/serve.ts';
import { startRedisServer, type RedisServer } from '../support/redis-server.ts';
import { startTestOrigin, type TestOrigin } from '../support/origin-server.ts';
import { ADMIN_TOKEN, get, put, read, Resources, SERVER_ENV, within } from './helpers.ts';

const DEADLINE_MS = 5000;
/** Shedding on event-loop delay off: 1,000 concurrent reads on a loaded machine must reach the origin path. */
const ARGS = ['--deadline', `${DEADLINE_MS}ms`, '--max-event-loop-delay', '0'];

async function collectionsFile(dir: string, name: string, collections: Record<string, unknown>): Promise<string> {
  const file = join(dir, name);
  await writeFile(file, JSON.stringify({ collections }));
  return file;
}

const purge = (base: string, collection: string, keys: string[]) =>
  get(`${base}/v1/content/${collection}/_purge`, { method: 'POST', body: JSON.stringify({ keys }), headers: { Authorization: `Bearer ${ADMIN_TOKEN}`, 'Content-Type': 'application/json' } });
const purgeOne = (base: string, collection: string, key: string) =>
  get(`${base}/v1/content/${collection}/${encodeURIComponent(key)}`, { method: 'DELETE', headers: { Authorization: `Bearer ${ADMIN_TOKEN}` } });

describe('origin collections: single-flight, concurrency cap, slow origin, status mapping, Cache-Control', () => {
  const res = new Resources();
  let origin: TestOrigin;
  let srv: Served;
  let dir: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fg-it-origin-'));
    res.use({ [Symbol.asyncDispose]: () => rm(dir, { recursive: true, force: true }) });
    origin = res.use(await startTestOrigin());
    const file = await collectionsFile(dir, 'origin.json', {
      recs: { origin: origin.template, ttl: '5m', originTimeout: '4s', originConcurrency: 8, forwardHeaders: ['accept-language'], fallback: '[]', contentType: 'application/json' },
      slow: { origin: `${origin.url}/users/{key}/recs`, ttl: '5m', originTimeout: '800ms', fallback: '[]' },
      slownofb: { origin: `${origin.url}/users/{key}/recs`, ttl: '5m', originTimeout: '800ms' },
      default: { origin: origin.template, ttl: '5m', originTimeout: '2s' },
    });
    srv = res.use(await serve({ args: [...ARGS, '--collections', file], env: SERVER_ENV }));
  });
  after(() => res.dispose());

  it('1,000 concurrent cold reads of one key make exactly 1 origin request, and every read gets the content', async () => {
    origin.respond = () => ({ body: '{"items":[1]}', headers: { 'content-type': 'application/json' }, delayMs: 300 });
    const answers = await Promise.all(Array.from({ length: 1000 }, () => read(srv.url, 'recs', 'one')));
    assert.equal(origin.count('one'), 1);
    assert.deepEqual(new Set(answers.map((a) => `${a.status} ${a.body}`)), new Set(['200 {"items":[1]}']));
    assert.equal(answers[0]?.headers.get('content-type'), 'application/json');
  });

  it('1,000 distinct keys with originConcurrency 8: never more than 8 in flight at the origin', async () => {
    origin.maxInFlight = 0;
    origin.respond = (key) => ({ body: `v-${key}`, delayMs: 10 });
    const answers = await Promise.all(Array.from({ length: 1000 }, (_, i) => read(srv.url, 'recs', `d${i}`)));
    assert.ok(origin.maxInFlight <= 8, `the origin saw ${origin.maxInFlight} requests at once`);
    assert.equal(origin.maxInFlight, 8, 'the cap is used in full');
    for (const [i, a] of answers.entries()) if (a.headers.get('x-fallback') === null) assert.equal(a.body, `v-d${i}`);
    assert.ok(answers.filter((a) => a.headers.get('x-fallback') === null).length > 0);
    for (let i = 0; i < 1000; i++) assert.ok(origin.count(`d${i}`) <= 1, `key d${i} asked ${origin.count(`d${i}`)} times`);
  });

  it('forwards the listed headers, and substitutes {key} URL-encoded', async () => {
    origin.respond = (key) => ({ body: key });
    const a = await get(`${srv.url}/v1/content/recs/${encodeURIComponent('a b/é?&')}`, { headers: { 'Accept-Language': 'de-CH', 'X-Other': 'no' } });
    assert.equal(a.status, 200);
    assert.equal(a.body, 'a b/é?&');
    assert.equal(origin.lastHeaders.get('a b/é?&')?.['accept-language'], 'de-CH');
    assert.equal(origin.lastHeaders.get('a b/é?&')?.['x-other'], undefined);
  });

  it('shields /data?user_id= when the default collection is an origin', async () => {
    origin.respond = (key) => ({ body: `user ${key}` });
    const a = await get(`${srv.url}/data?user_id=77`);
    assert.equal(a.status, 200);
    assert.equal(a.body, 'user 77');
    assert.equal((await get(`${srv.url}/data?user_id=77`)).headers.get('x-cache'), 'hit');
    assert.equal(origin.count('77'), 1);
  });

  it('an origin that answers in 7 s: the fallback (or 503 without one) within the deadline; the late answer fills the cache', async () => {
    origin.respond = (key) => ({ body: `late ${key}`, delayMs: 7000 });
    const answeredBefore = origin.answered;
    const t0 = performance.now();
    const [fb, refused] = await Promise.all([read(srv.url, 'slow', 'k7'), read(srv.url, 'slownofb', 'k7')]);
    const ms = performance.now() - t0;
    assert.equal(fb.status, 200);
    assert.equal(fb.body, '[]');
    assert.equal(fb.headers.get('x-fallback'), '1');
    assert.equal(fb.headers.get('x-degraded-reason'), 'origin-error');
    assert.equal(refused.status, 503);
    assert.equal(JSON.parse(refused.body).error.code, 'FG_ERR_ORIGIN_TIMEOUT');
    assert.ok(ms < DEADLINE_MS, `answered after ${ms} ms`);
    assert.ok(await within(15_000, () => origin.answered >= answeredBefore + 2, 50), 'the origin answered late');
    const next = await within(5000, async () => (await read(srv.url, 'slow', 'k7')).body === 'late k7', 50);
    assert.ok(next !== undefined, 'the late answer is served');
    assert.equal((await read(srv.url, 'slow', 'k7')).headers.get('x-cache'), 'hit');
    assert.equal(origin.count('k7'), 2, 'one request per collection, none after the late answer');
  });

  it('404 is cached negatively; 500, 301 and an oversize body are errors (fallback), counted, and not cached', async () => {
    origin.respond = (key) => {
      if (key === 'gone') return { status: 404 };
      if (key === 'boom') return { status: 500, body: 'internal' };
      if (key === 'moved') return { status: 301, headers: { location: `${origin.url}/users/target/recs` } };
      if (key === 'huge') return { body: Buffer.alloc(1024 * 1024 + 1, 0x61) };
      if (key === 'max') return { body: Buffer.alloc(1024 * 1024, 0x62) };
      return { body: key };
    };
    assert.equal((await read(srv.url, 'recs', 'gone')).status, 404);
    assert.equal((await read(srv.url, 'recs', 'gone')).status, 404);
    assert.equal(origin.count('gone'), 1, 'the 404 is remembered');
    for (const key of ['boom', 'moved', 'huge']) {
      const a = await read(srv.url, 'recs', key);
      assert.equal(a.status, 200, key);
      assert.equal(a.headers.get('x-fallback'), '1', key);
      assert.equal(a.headers.get('x-degraded-reason'), 'origin-error', key);
      await read(srv.url, 'recs', key);
      assert.equal(origin.count(key), 2, `${key}: not cached, asked again`);
    }
    assert.equal(origin.count('target'), 0, 'the redirect is not followed');
    assert.equal((await read(srv.url, 'recs', 'max')).body.length, 1024 * 1024, 'exactly the limit is accepted');
    assert.equal(await metric(srv.url, 'floodgate_origin_requests_total', { collection: 'recs', status: '5xx' }), 2);
    assert.equal(await metric(srv.url, 'floodgate_origin_requests_total', { collection: 'recs', status: '3xx' }), 2);
    assert.equal(await metric(srv.url, 'floodgate_origin_requests_total', { collection: 'recs', status: 'too-large' }), 2);
    assert.equal(await metric(srv.url, 'floodgate_origin_requests_total', { collection: 'recs', status: '404' }), 1);
    assert.match(srv.stdout() + srv.stderr(), /redirect, which is not followed/);
  });

  it('Cache-Control: max-age and s-maxage set the freshness, no-store keeps nothing, stale-if-error and must-revalidate decide what a failing origin gets', async () => {
    let fail = false;
    origin.respond = (key) => {
      if (fail) return { status: 503 };
      const cc: Record<string, string> = { 'ma': 'max-age=7', 'sm': 'max-age=7, s-maxage=9', 'ns': 'no-store', 'sie': 'max-age=1, stale-while-revalidate=0, stale-if-error=600', 'mr': 'max-age=1, must-revalidate' };
      return { body: `cc ${key}`, headers: { 'cache-control': cc[key] ?? '' } };
    };
    assert.equal((await read(srv.url, 'slownofb', 'ma')).headers.get('cache-control'), 'max-age=7');
    assert.equal((await read(srv.url, 'slownofb', 'sm')).headers.get('cache-control'), 'max-age=9', 's-maxage wins for a shared cache');
    assert.equal((await read(srv.url, 'slownofb', 'ma')).headers.get('x-cache'), 'hit');
    const ns1 = await read(srv.url, 'slownofb', 'ns');
    assert.equal(ns1.headers.get('cache-control'), 'no-store');
    await read(srv.url, 'slownofb', 'ns');
    assert.equal(origin.count('ns'), 2, 'no-store: every read asks the origin');
    assert.equal((await read(srv.url, 'slownofb', 'sie')).body, 'cc sie');
    assert.equal((await read(srv.url, 'slownofb', 'mr')).body, 'cc mr');
    await new Promise((r) => setTimeout(r, 1100)); // both past their max-age=1
    fail = true;
    const sie = await read(srv.url, 'slownofb', 'sie');
    assert.equal(sie.status, 200);
    assert.equal(sie.body, 'cc sie', 'stale-if-error: the stale copy answers while the origin fails');
    assert.equal(sie.headers.get('x-cache'), 'error-stale');
    const mr = await read(srv.url, 'slownofb', 'mr');
    assert.equal(mr.status, 503, 'must-revalidate: never served stale');
  });

  it('writes answer 405; DELETE without the admin token is refused', async () => {
    const w = await put(srv.url, 'recs', 'x', 'body');
    assert.equal(w.status, 405);
    assert.equal(JSON.parse(w.body).error.code, 'FG_ERR_READ_ONLY_COLLECTION');
    assert.equal((await get(`${srv.url}/v1/content/recs/x`, { method: 'DELETE' })).status, 401);
  });
});

describe('origin collections: the origin is killed (stale, fallback, breaker, probes, recovery)', () => {
  const res = new Resources();
  let origin: TestOrigin;
  let srv: Served;

  before(async () => {
    const dir = await mkdtemp(join(tmpdir(), 'fg-it-origin-kill-'));
    res.use({ [Symbol.asyncDispose]: () => rm(dir, { recursive: true, force: true }) });
    origin = res.use(await startTestOrigin());
    const file = await collectionsFile(dir, 'c.json', { recs: { origin: origin.template, ttl: '1s', originTimeout: '500ms', fallback: '"fallback"' } });
    srv = res.use(await serve({ args: [...ARGS, '--collections', file], env: SERVER_ENV }));
  });
  after(() => res.dispose());

  it('serves cached keys stale and uncached ones the fallback; the breaker opens, only probes reach the port; fresh content returns after a restart', async () => {
    let version = 'v1';
    origin.respond = (key) => ({ body: `${version} ${key}` });
    for (const k of ['a', 'b']) assert.equal((await read(srv.url, 'recs', k)).body, `v1 ${k}`);
    await origin.stop();
    await origin.countConnections();
    await new Promise((r) => setTimeout(r, 1100)); // past the TTL: only stale copies are left
    const a = await read(srv.url, 'recs', 'a');
    assert.equal(a.status, 200);
    assert.equal(a.body, 'v1 a', 'a cached key is served stale');
    assert.match(a.headers.get('x-cache') ?? '', /stale/);
    const t0 = performance.now();
    for (let i = 0; i < 60; i++) {
      const u = await read(srv.url, 'recs', `cold${i}`);
      assert.equal(u.status, 200);
      assert.equal(u.body, '"fallback"');
      assert.equal(u.headers.get('x-fallback'), '1');
    }
    assert.equal((await read(srv.url, 'recs', 'b')).body, 'v1 b');
    const seconds = (performance.now() - t0) / 1000;
    assert.equal(await metric(srv.url, 'floodgate_origin_breaker_state', { collection: 'recs' }) > 0, true, 'the breaker is open');
    assert.ok(await metric(srv.url, 'floodgate_origin_refused_total', { collection: 'recs', reason: 'breaker-open' }) > 0);
    // 5 failures open it, then one probe per second (+1 for a partial second, +1 for the stale refresh of a).
    const allowed = 5 + Math.ceil(seconds) + 2;
    assert.ok(origin.connections <= allowed, `${origin.connections} connections reached the dead origin in ${seconds.toFixed(1)} s (allowed ${allowed}) for 62 reads`);
    const ready = await get(`${srv.url}/readyz`);
    assert.equal(ready.status, 200, 'degraded, not unready');
    assert.equal(JSON.parse(ready.body).status, 'degraded');
    assert.match(JSON.stringify(JSON.parse(ready.body)), /origin:recs/);

    version = 'v2';
    await origin.start();
    const back = await within(4000, async () => (await read(srv.url, 'recs', 'a')).body === 'v2 a', 50);
    assert.ok(back !== undefined, 'fresh content within one TTL and a probe interval after the restart');
    assert.equal(await metric(srv.url, 'floodgate_origin_breaker_state', { collection: 'recs' }), 0, 'closed again');
    assert.equal((await read(srv.url, 'recs', 'cold0')).body, 'v2 cold0');
  });
});

describe('origin collections: two instances sharing Redis; purge', () => {
  const res = new Resources();
  let origin: TestOrigin;
  let redis: RedisServer;
  let a: Served;
  let b: Served;

  before(async () => {
    const dir = await mkdtemp(join(tmpdir(), 'fg-it-origin-two-'));
    res.use({ [Symbol.asyncDispose]: () => rm(dir, { recursive: true, force: true }) });
    origin = res.use(await startTestOrigin());
    redis = res.use(await startRedisServer());
    const file = await collectionsFile(dir, 'c.json', { recs: { origin: origin.template, ttl: '5m', originTimeout: '2s' } });
    const args = [...ARGS, '--collections', file, '--redis-url', redis.url];
    [a, b] = await Promise.all([serve({ args, env: SERVER_ENV }), serve({ args, env: SERVER_ENV })]);
    res.use(a);
    res.use(b);
    // An instance reads Redis only once its tier is connected and its invalidation subscription is up (else it
    // skips Redis, l2-repair.ts): probe each with keys of its own until a read consulted Redis.
    let probe = 0;
    for (const srv of [a, b]) {
      const consulted = await within(10_000, async () => {
        await read(srv.url, 'recs', `probe${probe++}`);
        return (await metric(srv.url, 'floodgate_cache_lookups_total', { tier: 'redis', outcome: 'miss' })) > 0;
      }, 50);
      assert.ok(consulted !== undefined, 'the instance reads Redis');
    }
  });
  after(() => res.dispose());

  it('a key fetched by one instance is served by the other from Redis, without an origin request', async () => {
    let version = 1;
    origin.respond = (key) => ({ body: `v${version} ${key}` });
    assert.equal((await read(a.url, 'recs', 'k')).body, 'v1 k');
    // A fills Redis off the request path: wait until the record is there before B asks.
    const raw = new Redis(redis.url);
    try {
      assert.ok(await within(3000, async () => (await raw.keys('*{recs:k}')).length > 0, 10), 'A filled Redis');
    } finally {
      raw.disconnect();
    }
    const fromB = await within(2000, async () => (await read(b.url, 'recs', 'k')).body === 'v1 k', 20);
    assert.ok(fromB !== undefined);
    assert.equal(origin.count('k'), 1, 'B found it in Redis');
    assert.equal(await metric(b.url, 'floodgate_cache_lookups_total', { tier: 'redis', outcome: 'hit' }), 1);

    version = 2;
    const p = await purgeOne(a.url, 'recs', 'k');
    assert.equal(p.status, 200);
    assert.equal(JSON.parse(p.body).purged, true);
    assert.equal(origin.count('k'), 1, 'a purge does not call the origin');
    const seen = await within(3000, async () => (await read(b.url, 'recs', 'k')).body === 'v2 k', 20);
    assert.ok(seen !== undefined, 'B dropped its copy and Redis\'s');
    // B fills Redis off the request path: wait for the new content there before A reads.
    const raw2 = new Redis(redis.url);
    try {
      const holdsV2 = async (): Promise<boolean> => {
        for (const k of await raw2.keys('*{recs:k}')) if (Object.values(await raw2.hgetall(k)).some((v) => v.includes('v2 k'))) return true;
        return false;
      };
      assert.ok(await within(3000, holdsV2, 10), 'B filled Redis with the new content');
    } finally {
      raw2.disconnect();
    }
    assert.equal((await read(a.url, 'recs', 'k')).body, 'v2 k');
    assert.equal(origin.count('k'), 2, 'refetched once, by B; A found it in Redis');
  });

  it('POST _purge takes many keys; bad input is a 4xx that purges nothing', async () => {
    origin.respond = (key) => ({ body: `p1 ${key}` });
    for (const k of ['m1', 'm2', 'm3']) await read(a.url, 'recs', k);
    assert.equal((await purge(a.url, 'recs', ['m1', 'bad\u0001'])).status, 400);
    assert.equal((await read(a.url, 'recs', 'm1')).headers.get('x-cache'), 'hit', 'nothing purged by a bad request');
    const ok = await purge(a.url, 'recs', ['m1', 'm2']);
    assert.equal(ok.status, 200);
    assert.equal(JSON.parse(ok.body).purged, 2);
    origin.respond = (key) => ({ body: `p2 ${key}` });
    assert.equal((await read(a.url, 'recs', 'm1')).body, 'p2 m1');
    assert.equal((await read(a.url, 'recs', 'm3')).body, 'p1 m3', 'a key not listed stays');
    assert.ok(await within(3000, async () => (await read(b.url, 'recs', 'm2')).body === 'p2 m2', 20));
    assert.equal((await get(`${a.url}/v1/content/recs/_purge`, { method: 'POST', body: '{"keys":["x"]}', headers: { 'Content-Type': 'application/json' } })).status, 401);
  });
});

describe('origin collections: start-up validation', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fg-it-origin-bad-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  const cases: [string, Record<string, unknown>, RegExp][] = [
    ['no {key}', { origin: 'http://127.0.0.1:1/users' }, /recs\.origin: the URL must contain \{key\}/],
    ['{key} in the host', { origin: 'http://{key}.example/x' }, /only in the path or the query/],
    ['not http', { origin: 'ftp://127.0.0.1/{key}' }, /only http:\/\/ and https:\/\//],
    ['timeout over the deadline', { origin: 'http://127.0.0.1:1/{key}', originTimeout: '6s' }, /originTimeout: must be under the read deadline/],
    ['a timeout without a unit', { origin: 'http://127.0.0.1:1/{key}', originTimeout: 800 }, /originTimeout: expected a duration with a unit/],
    ['bad concurrency', { origin: 'http://127.0.0.1:1/{key}', originConcurrency: 0 }, /originConcurrency: expected a whole number from 1 to 10000/],
    ['unknown option', { origin: 'http://127.0.0.1:1/{key}', originTimeot: '1s' }, /unknown key "originTimeot"/],
    ['origin and query', { origin: 'http://127.0.0.1:1/{key}', query: 'SELECT 1' }, /either "origin" or "query"/],
    ['hop-by-hop header', { origin: 'http://127.0.0.1:1/{key}', forwardHeaders: ['connection'] }, /never forwarded/],
  ];
  for (const [name, def, message] of cases) {
    it(`refuses to start: ${name}`, async () => {
      const file = await collectionsFile(dir, `${name.replaceAll(/\W/g, '-')}.json`, { recs: def });
      const out = await serveExpectingExit({ args: [...ARGS, '--collections', file] });
      assert.notEqual(out.code, 0);
      assert.match(out.stderr + out.stdout, message);
    });
  }

  it('an origin that is down at start is a warning, not a failure', async () => {
    const file = await collectionsFile(dir, 'down.json', { recs: { origin: 'http://127.0.0.1:9/users/{key}', fallback: 'fb' } });
    await using srv = await serve({ args: [...ARGS, '--collections', file] });
    assert.equal((await read(srv.url, 'recs', 'x')).body, 'fb');
    assert.match(srv.stdout() + srv.stderr(), /the origin is not reachable at start/);
  });
});
