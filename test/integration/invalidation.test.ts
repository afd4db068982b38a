// Issue 3, point 3: two `floodgate serve` processes sharing PostgreSQL and Redis. A write on one is read on
// the other within 1 s (the measured times are reported as diagnostics), and a late or repeated invalidation
// never replaces newer content with older.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { serve, type Served } from '../support/serve.ts';
import { startRedisServer, type RedisServer } from '../support/redis-server.ts';
import { del, median, pgArgs, pgSchema, put, read, Resources, SERVER_ENV, within, type PgSchema } from './helpers.ts';

const DEADLINE_MS = 1000;
const TRIALS = 10;

describe('invalidation across two instances (PostgreSQL + Redis)', () => {
  const res = new Resources();
  let schema: PgSchema;
  let redis: RedisServer;
  let a: Served;
  let b: Served;
  before(async () => {
    schema = res.use(pgSchema());
    redis = res.use(await startRedisServer());
    const args = [...pgArgs(schema.name), '--redis-url', redis.url];
    // One after the other: the first applies the migrations, the second finds them done.
    a = res.use(await serve({ args, env: SERVER_ENV }));
    b = res.use(await serve({ args, env: SERVER_ENV }));
  });
  after(() => res.dispose());

  /** Reads key on `on` until it holds `body` in its memory tier (X-Cache: hit). */
  async function cachedOn(on: Served, key: string, body: string): Promise<void> {
    const took = await within(2000, async () => {
      const r = await read(on.url, 'news', key);
      return r.status === 200 && r.body === body && r.headers.get('x-cache') === 'hit';
    });
    assert.ok(took !== undefined, `${on.url} never served ${body} from memory`);
  }

  async function propagation(from: Served, to: Served, key: string, trial: number): Promise<number> {
    const old = `${key} version ${trial}`;
    const next = `${key} version ${trial + 1}`;
    assert.equal((await put(from.url, 'news', key, old)).status, 201, 'a new key: created');
    await cachedOn(to, key, old);
    const w = await put(from.url, 'news', key, next);
    assert.equal(w.status, 200);
    const took = await within(DEADLINE_MS, async () => (await read(to.url, 'news', key)).body === next, 1);
    assert.ok(took !== undefined, `the other instance still served the old content ${DEADLINE_MS} ms after the PUT was acknowledged`);
    return took;
  }

  it('a PUT on one instance is read on the other within 1 s, in both directions', async (t) => {
    const times: number[] = [];
    for (let i = 0; i < TRIALS; i++) {
      const [from, to] = i % 2 === 0 ? [a, b] : [b, a];
      times.push(await propagation(from, to, `put-${i}`, i));
    }
    t.diagnostic(`PUT→visible on the other instance, ${TRIALS} trials: median ${median(times).toFixed(1)} ms, max ${Math.max(...times).toFixed(1)} ms`);
  });

  it('a DELETE on one instance is a 404 on the other within 1 s', async (t) => {
    const times: number[] = [];
    for (let i = 0; i < 4; i++) {
      const key = `del-${i}`;
      const [from, to] = i % 2 === 0 ? [a, b] : [b, a];
      assert.equal((await put(from.url, 'news', key, 'doomed')).status, 201);
      await cachedOn(to, key, 'doomed');
      assert.equal((await del(from.url, 'news', key)).status, 200);
      const took = await within(DEADLINE_MS, async () => (await read(to.url, 'news', key)).status === 404, 1);
      assert.ok(took !== undefined, `the other instance still served deleted content ${DEADLINE_MS} ms after the DELETE`);
      times.push(took);
    }
    t.diagnostic(`DELETE→404 on the other instance: median ${median(times).toFixed(1)} ms, max ${Math.max(...times).toFixed(1)} ms`);
  });

  it('a late or repeated invalidation (Redis bus or PostgreSQL NOTIFY) never replaces newer content with older', async () => {
    const key = 'versioned';
    const v1 = JSON.parse((await put(a.url, 'news', key, 'first')).body) as { version: number };
    const v2 = JSON.parse((await put(a.url, 'news', key, 'second')).body) as { version: number };
    assert.ok(v2.version > v1.version, 'a later write carries a larger version');
    await cachedOn(b, key, 'second');
    await cachedOn(a, key, 'second');
    // Two sentinel keys both instances hold, one per path: once a sentinel's invalidation (sent after the late
    // ones on the same connection, so delivered after them) has landed, so have the late ones on that path.
    for (const sentinel of ['sentinel-bus', 'sentinel-pg']) {
      assert.equal((await put(a.url, 'news', sentinel, 'before')).status, 201);
      await cachedOn(a, sentinel, 'before');
      await cachedOn(b, sentinel, 'before');
    }
    const newest = (JSON.parse((await put(a.url, 'news', 'sentinel-version', 'x')).body) as { version: number }).version + 1_000_000;

    const late = [
      { collection: 'news', key, version: v1.version, deleted: true }, // an old deletion arriving late
      { collection: 'news', key, version: v1.version, deleted: false }, // an old update
      { collection: 'news', key, version: v2.version, deleted: false }, // the current change, repeated
    ];
    const pub = new Redis(redis.url, { lazyConnect: true });
    await pub.connect();
    try {
      for (const change of [...late, ...late, { collection: 'news', key: 'sentinel-bus', version: newest, deleted: false }]) {
        await pub.publish('fg:invalidate', JSON.stringify(change));
      }
      const channel = `${schema.name}_changes`;
      for (const change of [...late, ...late, { collection: 'news', key: 'sentinel-pg', version: newest, deleted: false }]) {
        await schema.sql`SELECT pg_notify(${channel}, ${JSON.stringify(change)})`;
      }
    } finally {
      pub.disconnect();
    }
    for (const srv of [a, b]) {
      for (const sentinel of ['sentinel-bus', 'sentinel-pg']) {
        const dropped = await within(DEADLINE_MS, async () => (await read(srv.url, 'news', sentinel)).headers.get('x-cache') !== 'hit');
        assert.ok(dropped !== undefined, `${srv.url}: the ${sentinel} invalidation never arrived`);
      }
      const r = await read(srv.url, 'news', key);
      assert.equal(r.status, 200, `${srv.url}: the late deletion removed newer content`);
      assert.equal(r.body, 'second');
      assert.equal(r.headers.get('x-cache'), 'hit', `${srv.url}: a late or repeated invalidation dropped the current entry`);
    }
    // Redis too still holds the newer version (the old invalidations left it alone).
    const raw = new Redis(redis.url);
    try {
      const [body, version, deleted] = await raw.hmget(`fg:{news:${key}}`, 'body', 'version', 'deleted');
      assert.equal(body, 'second');
      assert.equal(Number(version), v2.version);
      assert.equal(deleted, null);
    } finally {
      raw.disconnect();
    }
  });
});
