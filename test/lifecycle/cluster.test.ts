// The supervisor against real processes: crash replacement, graceful SIGTERM, rolling SIGHUP under load, a
// reload refused in the primary and then rolled,
// invalidation across workers over IPC, seeding once, one /metrics for every worker.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { demoBody } from '../../src/content/demo.ts';
import { sumMetric } from '../support/serve.ts';
import { eventually, get, load, sleep, startServe, type Server } from './helpers.ts';

const servers: Server[] = [];
after(async () => {
  await Promise.all(servers.map((s) => s.kill()));
});
async function start(args: string[], env: Record<string, string> = {}): Promise<Server> {
  const s = await startServe(args, env);
  servers.push(s);
  return s;
}

describe('cluster supervisor', () => {
  it('seeds once, in the primary, and starts every worker', async () => {
    const s = await start(['--workers', '2', '--seed', '500', '--log-level', 'info']);
    assert.equal(s.output().split('\n').filter((l) => l.includes('"msg":"seeded demo content"')).length, 1, s.output());
    assert.equal(s.workers().length, 2);
    const r = await get(`${s.url}/data?user_id=500`);
    assert.equal(r.body, demoBody(500));
  });

  it('a worker killed with SIGKILL is replaced and the service keeps answering', async () => {
    const s = await start(['--workers', '2', '--seed', '1000']);
    const before = s.workers();
    const l = load((i) => `${s.url}/data?user_id=${(i % 1000) + 1}`, 8);
    await sleep(300);
    const victim = before[0] ?? 0;
    process.kill(victim, 'SIGKILL');
    assert.ok(await eventually(() => { const w = s.workers(); return w.length === 2 && !w.includes(victim); }, 10_000), `not replaced: ${s.workers()}`);
    const failedAtKill = l.stats.failures.length;
    const okAtReplace = l.stats.statuses.get(200) ?? 0;
    await sleep(500);
    const st = await l.stop();
    assert.ok(failedAtKill <= 8, `only requests in flight on the killed worker may fail: ${st.failures.slice(0, 3)}`);
    assert.equal(st.failures.length, failedAtKill, 'no failures once the worker was replaced');
    assert.ok((st.statuses.get(200) ?? 0) > okAtReplace, 'answers kept coming');
    assert.deepEqual([...st.statuses.keys()], [200]);
  });

  it('SIGHUP replaces every worker, one at a time, with zero failed requests under load', async () => {
    const s = await start(['--workers', '2', '--seed', '1000']);
    const before = s.workers();
    const l = load((i) => `${s.url}/data?user_id=${(i % 1000) + 1}`, 16);
    await sleep(500);
    process.kill(s.pid, 'SIGHUP');
    assert.ok(await eventually(() => { const w = s.workers(); return w.length === 2 && w.every((p) => !before.includes(p)); }, 20_000), `not rolled: ${before} -> ${s.workers()}`);
    await sleep(1500); // the last old worker's drain
    const st = await l.stop();
    assert.deepEqual(st.failures, []);
    assert.deepEqual([...st.statuses.keys()], [200]);
    assert.ok(st.requests > 200, `${st.requests} requests`);
  });

  it('SIGHUP with a bad collections file changes nothing; fixed, every worker rolls onto it and one config serves', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fg-reload-'));
    const file = join(dir, 'collections.json');
    writeFileSync(file, JSON.stringify({ collections: { default: { ttl: '60s' } } }));
    try {
      const s = await start(['--workers', '2', '--seed', '100', '--collections', file, '--log-level', 'info']);
      const maxAges = async (n: number): Promise<string[]> => {
        const seen = new Set<string>();
        for (let i = 1; i <= n; i++) seen.add(String((await get(`${s.url}/data?user_id=${i}`)).headers['cache-control']));
        return [...seen];
      };
      assert.deepEqual(await maxAges(10), ['max-age=60']);
      const before = s.workers();
      // An unknown key: refused once, in the primary; no worker is touched.
      writeFileSync(file, JSON.stringify({ collections: { default: { ttl: '30s', colour: 'red' } } }));
      process.kill(s.pid, 'SIGHUP');
      assert.ok(await eventually(() => s.output().includes('reload refused'), 10_000), s.output());
      await sleep(1000); // a worker the reload would have forked would be starting by now
      assert.equal(s.output().split('\n').filter((l) => l.includes('reload refused')).length, 1);
      assert.doesNotMatch(s.output(), /worker died|failed to start/);
      assert.deepEqual(s.workers().sort(), before.sort());
      assert.deepEqual(await maxAges(10), ['max-age=60']);
      // Fixed: every worker is replaced, the count stays at --workers, and reads show one max-age.
      writeFileSync(file, JSON.stringify({ collections: { default: { ttl: '30s' } } }));
      process.kill(s.pid, 'SIGHUP');
      assert.ok(await eventually(() => s.output().includes('"msg":"reloaded'), 30_000), s.output());
      assert.ok(await eventually(() => s.workers().length === 2, 10_000), `workers: ${s.workers()}`);
      assert.ok(s.workers().every((p) => !before.includes(p)), `${before} -> ${s.workers()}`);
      assert.deepEqual(await maxAges(20), ['max-age=30']);
      assert.equal(sumMetric((await get(`${s.url}/metrics`)).body, 'floodgate_worker_processes'), 2);
      await sleep(1500); // nothing left crash-looping to start later
      assert.equal(s.workers().length, 2);
      assert.equal(sumMetric((await get(`${s.url}/metrics`)).body, 'floodgate_worker_processes'), 2);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('SIGTERM stops accepting, lets an in-flight request finish, and exits 0', async () => {
    const s = await start(['--workers', '2', '--shutdown-timeout', '20s'], { FLOODGATE_ADMIN_TOKEN: 't0ken' });
    const { hostname, port } = new URL(s.url);
    const sock = connect(Number(port), hostname);
    let reply = '';
    sock.on('data', (d: Buffer) => (reply += d.toString()));
    const closed = new Promise((r) => sock.once('close', r));
    const body = 'x'.repeat(100);
    sock.write(`PUT /v1/content/default/drain HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer t0ken\r\nContent-Type: text/plain\r\nContent-Length: ${body.length}\r\n\r\n${body.slice(0, 50)}`);
    await sleep(200);
    process.kill(s.pid, 'SIGTERM');
    const refused = await eventually(
      () => new Promise<boolean>((resolve) => {
        const c = connect(Number(port), hostname);
        c.once('connect', () => { c.destroy(); resolve(false); });
        c.once('error', (err: NodeJS.ErrnoException) => resolve(err.code === 'ECONNREFUSED'));
      }),
      5000,
    );
    assert.ok(refused, 'new connections are refused while draining');
    sock.write(body.slice(50));
    await closed; // the server closes the connection once its response is sent
    assert.match(reply, /^HTTP\/1\.1 20[01] /, reply);
    assert.equal(await s.exited, 0);
  });

  it('a write through one worker invalidates the memory tier of every worker (IPC bus)', async () => {
    const s = await start(['--workers', '2', '--seed', '100'], { FLOODGATE_ADMIN_TOKEN: 't0ken' });
    // New connections alternate between the workers: after these, both hold user 7 in memory.
    for (let i = 0; i < 6; i++) assert.equal((await get(`${s.url}/data?user_id=7`)).body, demoBody(7));
    const put = await fetch(`${s.url}/v1/content/default/7`, { method: 'PUT', headers: { authorization: 'Bearer t0ken', 'content-type': 'text/plain' }, body: 'changed' });
    assert.ok(put.ok, String(put.status));
    await sleep(50);
    const bodies = [];
    for (let i = 0; i < 6; i++) bodies.push((await get(`${s.url}/data?user_id=7`)).body);
    assert.deepEqual(bodies, Array(6).fill('changed'));
  });

  it('/metrics adds up every worker, whichever worker the scrape lands on, also after one is replaced', async () => {
    const s = await start(['--workers', '2', '--seed', '100']);
    const scrape = async (): Promise<{ workers: number; reads: number }> => {
      const r = await get(`${s.url}/metrics`); // a new connection each time: scrapes land on either worker
      assert.equal(r.status, 200, r.body);
      return { workers: sumMetric(r.body, 'floodgate_worker_processes'), reads: sumMetric(r.body, 'floodgate_http_requests_total', { route: 'data' }) };
    };
    // 60 reads, each on a new connection, so both workers answer some of them.
    for (let i = 1; i <= 60; i++) assert.equal((await get(`${s.url}/data?user_id=${i}`)).status, 200);
    const scrapes: { workers: number; reads: number }[] = [];
    for (let i = 0; i < 6; i++) scrapes.push(await scrape());
    assert.deepEqual(scrapes, Array(6).fill({ workers: 2, reads: 60 }));
    // A worker killed: its counts go with it, the replacement is counted from zero, and every scrape agrees.
    const before = s.workers();
    process.kill(before[0] ?? 0, 'SIGKILL');
    assert.ok(await eventually(() => { const w = s.workers(); return w.length === 2 && !w.includes(before[0] ?? 0); }, 10_000), `not replaced: ${s.workers()}`);
    assert.ok(await eventually(async () => (await scrape()).workers === 2, 10_000), 'the replacement is counted');
    const again: { workers: number; reads: number }[] = [];
    for (let i = 0; i < 4; i++) again.push(await scrape());
    assert.ok(again.every((a) => a.workers === 2 && a.reads === again[0]?.reads && a.reads <= 60), JSON.stringify(again));
  });
});
