// Scale-out behind a real load balancer: two `floodgate serve` instances on one PostgreSQL schema and one
// Redis, behind Debian's nginx (test/support/nginx.ts: least_conn, keep-alive upstreams, idempotent GETs
// retried on the next upstream on error or timeout). Through nginx: each instance's /metrics accounts for its
// share of the reads; a write is seen on both instances within 100 ms; one instance SIGKILLed in the middle
// of a load and restarted costs no failed request.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startNginx, type Nginx } from '../support/nginx.ts';
import { startRedisServer } from '../support/redis-server.ts';
import { metric, serve, type Served } from '../support/serve.ts';
import { pgArgs, pgSchema, put, read, Resources, SERVER_ENV, within } from './helpers.ts';

const USERS = 500;

describe('two instances behind nginx', () => {
  const res = new Resources();
  let args: string[];
  let a: Served;
  let b: Served;
  let lb: Nginx;
  before(async () => {
    const schema = res.use(pgSchema());
    const redis = res.use(await startRedisServer());
    args = [...pgArgs(schema.name), '--redis-url', redis.url, '--seed', String(USERS)];
    a = res.use(await serve({ args, env: SERVER_ENV }));
    b = await serve({ args, env: SERVER_ENV });
    lb = res.use(await startNginx([`127.0.0.1:${a.port}`, `127.0.0.1:${b.port}`]));
  });
  after(async () => {
    await b.stop();
    await res.dispose();
  });

  /** `connections` loops of GETs through nginx for `ms` (and at most `max` each); counts answers by outcome. */
  async function load(connections: number, ms: number, max = 20_000): Promise<{ ok: number; failed: string[] }> {
    const end = Date.now() + ms;
    let ok = 0;
    const failed: string[] = [];
    await Promise.all(Array.from({ length: connections }, async (_, c) => {
      for (let i = 0; i < max && Date.now() < end; i++) {
        const url = `${lb.url}/data?user_id=${((c * 131 + i) % USERS) + 1}`;
        try {
          const r = await fetch(url, { signal: AbortSignal.timeout(10_000) });
          const body = await r.text();
          if (r.status === 200) ok++;
          else failed.push(`${r.status} ${body.slice(0, 120)}`);
        } catch (err) {
          failed.push(`${url}: ${(err as Error).message}`);
        }
      }
    }));
    return { ok, failed };
  }

  const reads = (srv: Served): Promise<number> => metric(srv.url, 'floodgate_http_requests_total', { route: 'data' });

  it("each instance's /metrics accounts for its share: together exactly the reads sent, each some", async () => {
    const [a0, b0] = [await reads(a), await reads(b)];
    const { ok, failed } = await load(8, 1500);
    assert.deepEqual(failed, []);
    const [da, db] = [(await reads(a)) - a0, (await reads(b)) - b0];
    assert.equal(da + db, ok, `instance a answered ${da}, b ${db}, nginx passed on ${ok}`);
    assert.ok(da > 0 && db > 0, `both instances had a share (a ${da}, b ${db})`);
  });

  it('a write through nginx is seen on both instances within 100 ms (polled)', async () => {
    const key = `k-${Date.now()}`;
    assert.equal((await put(lb.url, 'news', key, 'v1')).status, 201, 'created');
    for (const srv of [a, b]) assert.ok((await within(2000, async () => (await read(srv.url, 'news', key)).body === 'v1')) !== undefined);
    // Both hold v1 in memory now; v2 written through nginx must replace it on both.
    assert.equal((await put(lb.url, 'news', key, 'v2')).status, 200);
    const took = await Promise.all([a, b].map((srv) => within(100, async () => (await read(srv.url, 'news', key)).body === 'v2', 2)));
    assert.ok(took.every((t) => t !== undefined), `seen after ${took.map((t) => (t === undefined ? 'more than 100' : t.toFixed(1))).join(' and ')} ms`);
  });

  it('one instance SIGKILLed mid-load and restarted: 0 failed requests', async () => {
    const running = load(16, 9000);
    await new Promise((r) => setTimeout(r, 1500));
    process.kill(b.pid, 'SIGKILL');
    const killed = await b.exited;
    assert.equal(killed.signal, 'SIGKILL');
    await new Promise((r) => setTimeout(r, 1000));
    b = await serve({ args: [...args, '--port', String(b.port)], env: SERVER_ENV });
    const restarted = await reads(b);
    // Let the load run on until its end with both instances up again; the restarted one gets traffic again.
    const { ok, failed } = await running;
    assert.deepEqual(failed.slice(0, 5), [], `${failed.length} of ${ok + failed.length} failed; nginx: ${lb.errorLog().slice(-800)}`);
    assert.ok(ok > 0);
    // nginx tries a server it marked failed again only after its fail_timeout, and only for a request it is
    // sent: the load may end (on a busy machine) before that. So read through nginx until b gets one, or 20 s.
    const back = await within(20_000, async () => {
      await load(4, 300);
      return (await reads(b)) > restarted;
    }, 100);
    assert.ok(back !== undefined, 'the restarted instance answers reads through nginx again');
  });
});
