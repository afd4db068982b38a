// Issue 3, point 6 (PostgreSQL): the store made unreachable by cutting a TCP proxy between floodgate and the
// shared PostgreSQL (a real connection, not a mock). Keys in a cache tier keep answering (from memory as
// stale-if-error, marked in X-Cache and a metric; from Redis); uncached keys get 503 JSON with Retry-After;
// writes get 503 and nothing acknowledged is lost; /readyz reports each dependency; all recovers on restore.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { metric, serve, type Served } from '../support/serve.ts';
import { startRedisServer } from '../support/redis-server.ts';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.ts';
import { get, PG_URL, pgArgs, pgSchema, put, read, Resources, SERVER_ENV, within, type Answer, type PgSchema } from './helpers.ts';

/** A writer that PUTs w-0, w-1, … one after the other until stopped, remembering what was acknowledged. */
class Writer {
  readonly acknowledged = new Map<string, { body: string; version: number }>();
  readonly statuses = new Map<number, number>();
  #running = true;
  readonly #loop: Promise<void>;

  constructor(base: string) {
    this.#loop = (async () => {
      for (let i = 0; this.#running; i++) {
        const key = `w-${i}`;
        const body = `write ${i}`;
        let status = 0;
        try {
          const r = await put(base, 'news', key, body);
          status = r.status;
          if (r.status === 201) this.acknowledged.set(key, { body, version: (JSON.parse(r.body) as { version: number }).version });
        } catch {
          status = 0;
        }
        this.statuses.set(status, (this.statuses.get(status) ?? 0) + 1);
        await new Promise((r) => setTimeout(r, 5));
      }
    })();
  }

  async stop(): Promise<void> {
    this.#running = false;
    await this.#loop;
  }
}

function errorCode(a: Answer): string | undefined {
  try {
    return (JSON.parse(a.body) as { error?: { code?: string } }).error?.code;
  } catch {
    return undefined;
  }
}

describe('PostgreSQL unreachable (TCP proxy cut, then frozen)', () => {
  const res = new Resources();
  let schema: PgSchema;
  let proxy: TcpProxy;
  /** Memory tier only, 1 s TTL: its entries go stale fast, so stale-if-error shows. */
  let mem: Served;
  /** Redis tier only (--cache-bytes 0). */
  let l2: Served;
  before(async () => {
    schema = res.use(pgSchema());
    proxy = res.use(await startTcpProxy({ host: new URL(PG_URL).hostname, port: Number(new URL(PG_URL).port || 5432) }));
    const viaProxy = new URL(PG_URL);
    viaProxy.port = String(proxy.port);
    const redis = res.use(await startRedisServer());
    // Event-loop shedding off: on a machine busy with other work it would answer 503 FG_ERR_OVERLOADED,
    // which is admission control's business (tested there), not the store's.
    const common = [...pgArgs(schema.name, viaProxy.toString()), '--store-timeout', '500ms', '--max-event-loop-delay', '0'];
    mem = res.use(await serve({ args: [...common, '--ttl', '1s'], env: SERVER_ENV }));
    l2 = res.use(await serve({ args: [...common, '--cache-bytes', '0', '--redis-url', redis.url], env: SERVER_ENV }));
  });
  after(() => res.dispose());

  it('cached keys answer, uncached ones and writes get 503 + Retry-After, /readyz tells, nothing acknowledged is lost', async (t) => {
    for (let i = 0; i < 5; i++) assert.equal((await put(mem.url, 'news', `hot-${i}`, `hot ${i}`)).status, 201);
    for (let i = 0; i < 5; i++) {
      assert.equal((await read(mem.url, 'news', `hot-${i}`)).status, 200);
      assert.equal((await read(l2.url, 'news', `hot-${i}`)).status, 200); // fills Redis
    }
    const writer = new Writer(mem.url);
    try {
      assert.ok(await within(2000, () => writer.acknowledged.size > 5), 'writes go through before the cut');
      const errorStaleBefore = await metric(mem.url, 'floodgate_cache_lookups_total', { tier: 'memory', outcome: 'error-stale' });

      proxy.cut();
      // Uncached keys: 503 JSON with Retry-After, at once.
      for (const srv of [mem, l2]) {
        const t0 = performance.now();
        const r = await read(srv.url, 'news', 'never-cached');
        assert.equal(r.status, 503, `${srv.url}: ${r.status} ${r.body}`);
        assert.match(errorCode(r) ?? '', /^FG_ERR_STORE_(UNAVAILABLE|TIMEOUT)$/);
        assert.equal(r.headers.get('retry-after'), '1');
        assert.match(r.headers.get('content-type') ?? '', /^application\/json/);
        t.diagnostic(`uncached read while PostgreSQL refuses: 503 after ${(performance.now() - t0).toFixed(0)} ms`);
      }
      // Writes: 503 with Retry-After.
      const w = await put(mem.url, 'news', 'during-the-cut', 'x');
      assert.equal(w.status, 503, w.body);
      assert.equal(w.headers.get('retry-after'), '1');
      // Keys in Redis answer from there.
      for (let i = 0; i < 5; i++) {
        const r = await read(l2.url, 'news', `hot-${i}`);
        assert.equal(r.status, 200, `Redis-held key: ${r.status} ${r.body}`);
        assert.equal(r.body, `hot ${i}`);
      }
      // Keys in memory answer; once past their TTL they are served stale, marked as such.
      const marked = await within(4000, async () => {
        const r = await read(mem.url, 'news', 'hot-0');
        assert.equal(r.status, 200, `a cached key answered ${r.status} ${r.body}`);
        assert.equal(r.body, 'hot 0');
        return r.headers.get('x-cache') === 'error-stale';
      }, 100);
      assert.ok(marked !== undefined, 'a stale entry served while the store fails is marked X-Cache: error-stale');
      const errorStale = (await metric(mem.url, 'floodgate_cache_lookups_total', { tier: 'memory', outcome: 'error-stale' })) - errorStaleBefore;
      assert.ok(errorStale >= 1, 'floodgate_cache_lookups_total{tier="memory",outcome="error-stale"} counts it');
      for (let i = 1; i < 5; i++) assert.equal((await read(mem.url, 'news', `hot-${i}`)).status, 200);
      // /readyz reports each dependency.
      const ready = await get(`${l2.url}/readyz`);
      assert.equal(ready.status, 503);
      const checks = (JSON.parse(ready.body) as { checks: Record<string, string> }).checks;
      assert.match(checks.store ?? '', /^failing/, ready.body);
      assert.equal(checks.redis, 'ok', ready.body);

      // Frozen: connections hang instead of being refused. Answers still come within the store deadline.
      proxy.freeze();
      const t0 = performance.now();
      const frozen = await read(mem.url, 'news', 'never-cached-2');
      const frozenMs = performance.now() - t0;
      assert.equal(frozen.status, 503, frozen.body);
      assert.equal(frozen.headers.get('retry-after'), '1');
      assert.ok(frozenMs < 3000, `answered within the deadline, not hanging (${frozenMs.toFixed(0)} ms)`);
      t.diagnostic(`uncached read while PostgreSQL hangs: 503 after ${frozenMs.toFixed(0)} ms (store deadline 500 ms)`);
      assert.equal((await read(mem.url, 'news', 'hot-1')).status, 200);

      proxy.restore();
      const back = await within(10_000, async () => (await read(mem.url, 'news', 'never-cached')).status === 404, 50);
      assert.ok(back !== undefined, 'reads reach the store again after the restore');
      t.diagnostic(`store reads work again ${back.toFixed(0)} ms after the restore`);
      assert.ok(await within(5000, async () => (await get(`${l2.url}/readyz`)).status === 200, 50), '/readyz is ready again');
      const ackedBefore = writer.acknowledged.size;
      assert.ok(await within(5000, () => writer.acknowledged.size > ackedBefore + 3), 'writes go through again');
    } finally {
      await writer.stop();
    }
    // Nothing acknowledged is lost: every 200 is in PostgreSQL with the acknowledged body and version.
    const rows = await schema.sql.unsafe<{ key: string; body: string; version: string }[]>(
      `SELECT key, convert_from(body, 'UTF8') AS body, version::text AS version FROM "${schema.name}".content WHERE collection = 'news' AND key LIKE 'w-%'`,
    );
    const stored = new Map(rows.map((r) => [r.key, r]));
    for (const [key, ack] of writer.acknowledged) {
      const row = stored.get(key);
      assert.ok(row, `acknowledged write ${key} is missing from the store`);
      assert.equal(row.body, ack.body);
      assert.equal(Number(row.version), ack.version);
    }
    const failed = [...writer.statuses].filter(([s]) => s !== 201); // every key it writes is new: 201 Created
    assert.ok(failed.length > 0 && failed.every(([s]) => s === 503), `writes during the outage answered 503 only: ${JSON.stringify([...writer.statuses])}`);
    t.diagnostic(`writes: ${JSON.stringify(Object.fromEntries(writer.statuses))}; all ${writer.acknowledged.size} acknowledged ones are stored`);
  });
});
