// Issue 14, point 2: no older read after a Redis outage. A PUT acknowledged while Redis is unreachable commits
// to the store only; Redis keeps the older copy. When Redis is back, neither the writing instance nor another
// one sharing Redis and the store may serve that older copy: Redis is repaired from the store's changes before
// it is read again (docs/redis.md, "After an outage"). Real parts: floodgate serve processes, PostgreSQL, a
// redis-server of the test's own behind a TCP proxy that is cut and restored; SQLite with two workers too
// (there, the worker that did not write hears of it over IPC while Redis is away).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { metric, serve, type Served } from '../support/serve.ts';
import { startRedisServer, type RedisServer } from '../support/redis-server.ts';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.ts';
import { get as getNew } from '../lifecycle/helpers.ts';
import { pgArgs, pgSchema, put, read, Resources, SERVER_ENV, within } from './helpers.ts';

const PROBES = 200;
const redisHits = (srv: Served): Promise<number> => metric(srv.url, 'floodgate_cache_lookups_total', { tier: 'redis', outcome: 'hit' });

/**
 * Reads `key` on `srv` until the outage is over for it: its memory tier was dropped at the resubscribe (a read
 * that is not an X-Cache hit) and Redis answers reads again (a Redis hit on a probe key that only Redis holds
 * for it). Every read of `key` on the way, and a few after, must answer `want`. Returns the bodies that did not.
 */
async function readsAfterOutage(srv: Served, key: string, want: string, probes: () => string): Promise<string[]> {
  const wrong: string[] = [];
  let dropped = false;
  const hitsAtStart = await redisHits(srv);
  const over = await within(15_000, async () => {
    const r = await read(srv.url, 'news', key);
    if (r.body !== want) wrong.push(`${r.body} (X-Cache: ${r.headers.get('x-cache')})`);
    if (r.headers.get('x-cache') !== 'hit') dropped = true;
    await read(srv.url, 'news', probes());
    return dropped && (await redisHits(srv)) > hitsAtStart;
  }, 20);
  assert.ok(over !== undefined, `Redis was not read again within 15 s of the restore on ${srv.url} (memory dropped: ${dropped})`);
  for (let i = 0; i < 5; i++) {
    const r = await read(srv.url, 'news', key);
    if (r.body !== want) wrong.push(`${r.body} (X-Cache: ${r.headers.get('x-cache')}, after)`);
  }
  return wrong;
}

describe('after a Redis outage (PostgreSQL, two instances)', () => {
  const res = new Resources();
  let redis: RedisServer;
  let proxy: TcpProxy;
  let a: Served;
  let b: Served;
  before(async () => {
    const schema = res.use(pgSchema());
    redis = res.use(await startRedisServer());
    proxy = res.use(await startTcpProxy({ port: redis.port }));
    const args = [...pgArgs(schema.name), '--redis-url', `redis://127.0.0.1:${proxy.port}`, '--ttl', '600s'];
    a = res.use(await serve({ args, env: SERVER_ENV }));
    b = res.use(await serve({ args, env: SERVER_ENV }));
  });
  after(() => res.dispose());

  it('a PUT acknowledged while Redis was cut reads back on the writer and on the other instance', async (t) => {
    for (let i = 0; i < PROBES; i++) assert.equal((await put(a.url, 'news', `probe-${i}`, `probe ${i}`)).status, 201);
    assert.equal((await put(a.url, 'news', 'k', 'v1')).status, 201);
    assert.equal((await read(b.url, 'news', 'k')).body, 'v1');

    proxy.cut();
    assert.equal((await put(a.url, 'news', 'k', 'v2')).status, 200);
    assert.equal((await read(a.url, 'news', 'k')).body, 'v2');
    proxy.restore();

    let next = 0;
    const probe = (): string => `probe-${next++ % PROBES}`;
    const onA = await readsAfterOutage(a, 'k', 'v2', probe);
    const onB = await readsAfterOutage(b, 'k', 'v2', probe);
    t.diagnostic(`reads after the restore: ${next} probe reads`);
    assert.deepEqual({ onA, onB }, { onA: [], onB: [] }, 'an acknowledged write was followed by an older read');
  });
});

describe('after a Redis outage (SQLite, two workers)', () => {
  const res = new Resources();
  let proxy: TcpProxy;
  let srv: Served;
  before(async () => {
    const redis = res.use(await startRedisServer());
    proxy = res.use(await startTcpProxy({ port: redis.port }));
    srv = res.use(await serve({ args: ['--workers', '2', '--redis-url', `redis://127.0.0.1:${proxy.port}`, '--ttl', '600s'], env: SERVER_ENV }));
  });
  after(() => res.dispose());

  it('a PUT acknowledged while Redis was cut reads back on both workers', async () => {
    for (let i = 0; i < PROBES; i++) assert.equal((await put(srv.url, 'news', `probe-${i}`, `probe ${i}`)).status, 201);
    assert.equal((await put(srv.url, 'news', 'k', 'v1')).status, 201);
    // New connections: both workers read k (and hold v1 in memory and Redis holds it).
    for (let i = 0; i < 10; i++) assert.equal((await getNew(`${srv.url}/v1/content/news/k`)).body, 'v1');

    proxy.cut();
    assert.equal((await put(srv.url, 'news', 'k', 'v2')).status, 200);
    // While Redis is away, the other worker hears of the write over IPC (the Redis bus could not carry it). That
    // message travels through the primary after the writer answered, as a Redis-bus invalidation does: within
    // milliseconds, not before the acknowledgement. So: both workers answer v2 within 2 s, and from then on always.
    const wrong: string[] = [];
    let run = 0;
    const converged = await within(2000, async () => {
      const r = await getNew(`${srv.url}/v1/content/news/k`);
      run = r.body === 'v2' ? run + 1 : 0;
      return run >= 10;
    }, 0);
    assert.ok(converged !== undefined, 'both workers answered v2 within 2 s of the acknowledgement, during the outage');
    for (let i = 0; i < 10; i++) {
      const r = await getNew(`${srv.url}/v1/content/news/k`);
      if (r.body !== 'v2') wrong.push(`${r.body} (X-Cache: ${String(r.headers['x-cache'])}, during the outage)`);
    }
    proxy.restore();

    // Each read on a new connection, so reads land on both workers; /metrics adds up both.
    let next = 0;
    const hitsAtStart = await redisHits(srv);
    const over = await within(15_000, async () => {
      for (let i = 0; i < 4; i++) {
        const r = await getNew(`${srv.url}/v1/content/news/k`);
        if (r.body !== 'v2') wrong.push(`${r.body} (X-Cache: ${String(r.headers['x-cache'])})`);
        await getNew(`${srv.url}/v1/content/news/probe-${next++ % PROBES}`);
      }
      return (await redisHits(srv)) > hitsAtStart + 20;
    }, 20);
    assert.ok(over !== undefined, 'Redis was not read again within 15 s of the restore');
    for (let i = 0; i < 20; i++) {
      const r = await getNew(`${srv.url}/v1/content/news/k`);
      if (r.body !== 'v2') wrong.push(`${r.body} (after)`);
    }
    assert.deepEqual(wrong, [], 'an acknowledged write was followed by an older read');
  });
});
