// Overload by a really blocked event loop (fastify/under-pressure's way): the server runs in this process,
// another process sends requests while this one busy-waits. Misses are then answered degraded at once, in
// order stale > fallback > 503, marked and counted; fresh hits are still served; once the loop is free
// again, everything is answered normally.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { startApp, type App } from '../../src/app.ts';
import { loadConfig } from '../../src/config.ts';
import { demoBody } from '../../src/content/demo.ts';
import { metric } from '../support/serve.ts';

// The sender: every 15 ms one request per path, in parallel; on "end" on stdin, one last round; prints the
// answers as JSON lines.
const SENDER = `
const http = require('node:http');
const [base, ...paths] = process.argv.slice(1);
const agent = new http.Agent({ keepAlive: true });
let i = 0, pending = 0, ending = false;
const send = (path, phase) => { pending++; const t0 = Date.now();
  http.get(base + path.replace('{i}', String(i)), { agent }, (res) => { let body = '';
    res.on('data', (d) => body += d);
    res.on('end', () => { pending--; console.log(JSON.stringify({ phase, path, status: res.statusCode, h: res.headers, body, ms: Date.now() - t0, t: Date.now() }));
      if (ending && pending === 0) process.exit(0); }); })
  .on('error', (e) => { pending--; console.log(JSON.stringify({ phase, path, error: e.message })); }); };
const timer = setInterval(() => { i++; for (const p of paths) send(p, 'run'); }, 15);
send(paths[0], 'ready');
process.stdin.on('data', () => { clearInterval(timer); ending = true; i = 100000; for (const p of paths) send(p, 'after'); });
`;

interface Answer { phase: string; path: string; status?: number; h?: Record<string, string>; body?: string; error?: string; ms?: number; t?: number }

/** Starts the sender on `paths` (inside a test: it is killed after it); resolves once its first answer is in. */
async function startSender(url: string, paths: string[]): Promise<{ finish: () => Promise<Answer[]> }> {
  const child = spawn(process.execPath, ['-e', SENDER, url, ...paths], { stdio: ['pipe', 'pipe', 'inherit'] });
  after(() => child.kill('SIGKILL'));
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const done = new Promise((r) => child.once('exit', r));
  while (!out.includes('"phase":"ready"')) await new Promise((r) => setTimeout(r, 10));
  return {
    finish: async () => {
      child.stdin.write('end\n');
      await done;
      return out.trim().split('\n').map((l) => JSON.parse(l) as Answer);
    },
  };
}

function busyWait(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    // the loop is blocked: nothing else in this process runs
  }
}

describe('overload: a blocked event loop', () => {
  let app: App;
  let dir: string;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'fg-eld-'));
    const collections = join(dir, 'collections.json');
    writeFileSync(collections, JSON.stringify({ collections: { promo: { fallback: 'the fallback promo' }, short: { ttl: '100ms' } } }));
    const { config } = loadConfig(['--port', '0', '--host', '127.0.0.1', '--data-dir', dir, '--seed', '0', '--collections', collections, '--max-event-loop-delay', '150ms', '--log-level', 'silent'], {});
    app = await startApp(config, { logger: pino({ level: 'silent' }) });
    const keys = [...Array.from({ length: 2001 }, (_, k) => k), 100_000];
    const writes = keys.flatMap((k) => [
      { collection: 'default', key: String(k), body: Buffer.from(demoBody(k)), contentType: 'text/plain' },
      { collection: 'promo', key: `p${k}`, body: Buffer.from(`promo ${k}`), contentType: 'text/plain' },
    ]);
    await app.service.putMany([...writes, { collection: 'short', key: 's', body: Buffer.from('short-lived'), contentType: 'text/plain' }]);
    app.service.memory?.clear();
    // 'short/s' and user 1 in memory; 's' goes stale (TTL 100 ms; the stale window is an hour).
    await fetch(`${app.url}/v1/content/short/s`).then((r) => r.text());
    await fetch(`${app.url}/data?user_id=1`).then((r) => r.text());
    await new Promise((r) => setTimeout(r, 150));
  });
  after(async () => {
    await app?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('answers misses degraded while the loop is blocked, hits normally, and recovers at once', { timeout: 30_000 }, async () => {
    const sender = await startSender(app.url, ['/data?user_id={i}', '/v1/content/promo/p{i}', '/v1/content/short/s', '/data?user_id=1']);
    // Block the loop three times for 400 ms, 20 ms apart (each block runs inside a timer, like any callback).
    for (let b = 0; b < 3; b++) await new Promise<void>((r) => setTimeout(() => { busyWait(400); r(); }, 20));
    await new Promise((r) => setTimeout(r, 400)); // free again: the next samples clear the pressure
    const answers = await sender.finish();
    assert.deepEqual(answers.filter((a) => a.error), [], 'every request is answered');
    const degraded = answers.filter((a) => a.h?.['x-degraded-reason'] === 'event-loop');
    const of = (prefix: string) => degraded.filter((a) => a.path.startsWith(prefix));
    assert.ok(of('/data?user_id={i}').length > 0, 'some plain misses were refused');
    for (const a of of('/data?user_id={i}')) {
      assert.equal(a.status, 503);
      assert.equal(a.h?.['retry-after'], '1');
      assert.equal((JSON.parse(a.body ?? '') as { error: { code: string } }).error.code, 'FG_ERR_OVERLOADED');
    }
    assert.ok(of('/v1/content/promo').length > 0, 'some promo misses got the fallback');
    for (const a of of('/v1/content/promo')) {
      assert.deepEqual([a.status, a.h?.['x-fallback'], a.body], [200, '1', 'the fallback promo']);
    }
    assert.ok(of('/v1/content/short').length > 0, 'the stale entry was served');
    for (const a of of('/v1/content/short')) assert.deepEqual([a.status, a.h?.['x-cache'], a.body], [200, 'stale', 'short-lived']);
    for (const a of answers.filter((x) => x.path === '/data?user_id=1')) assert.deepEqual([a.status, a.body], [200, demoBody(1)], 'a fresh hit is never shed');

    const last = answers.filter((a) => a.phase === 'after');
    assert.equal(last.length, 4);
    for (const a of last) {
      assert.equal(a.status, 200, JSON.stringify(a));
      assert.equal(a.h?.['x-degraded-reason'], undefined, `recovered: ${JSON.stringify(a)}`);
    }
    assert.equal(last.find((a) => a.path.startsWith('/data?user_id={i}'))?.body, demoBody(100_000));
    assert.equal(last.find((a) => a.path.startsWith('/v1/content/promo'))?.body, 'promo 100000');
    assert.ok(await metric(app.url, 'floodgate_degraded_total', { answer: 'fallback', reason: 'event-loop' }) >= 1);
    assert.ok(await metric(app.url, 'floodgate_degraded_total', { answer: 'refused', reason: 'event-loop' }) >= 1);
    assert.ok(await metric(app.url, 'floodgate_degraded_total', { answer: 'stale', reason: 'event-loop' }) >= 1);
  });
});

// What the old rule got wrong (issue 10): a loop that is busy but keeps up, with idle keep-alive connections
// open, has no queue and must shed nothing (the old rule, connections × time per request, shed here). Then a real
// standing queue in the kernel (requests arriving while the loop is stuck in 700 ms slices) is shed, and every
// miss is served again once the loop idles. The target is 300 ms, so that a loaded machine descheduling this
// process for a moment is seldom taken for a queue in the calm phase.
describe('overload: busy loop with idle connections, then a real queue', () => {
  let app: App;
  let dir: string;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'fg-elu-'));
    const { config } = loadConfig(['--port', '0', '--host', '127.0.0.1', '--data-dir', dir, '--seed', '0', '--max-event-loop-delay', '300ms', '--log-level', 'silent'], {});
    app = await startApp(config, { logger: pino({ level: 'silent' }) });
    const keys = [...Array.from({ length: 3000 }, (_, k) => k), 100_000]; // the sender's last round asks for 100000
    await app.service.putMany(keys.map((k) => ({ collection: 'default', key: String(k), body: Buffer.from(demoBody(k)), contentType: 'text/plain' })));
    app.service.memory?.clear();
    await fetch(`${app.url}/data?user_id=1`).then((r) => r.text());
  });
  after(async () => {
    await app?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('sheds nothing while the loop keeps up, however many connections are open; sheds a standing queue; recovers', { timeout: 30_000 }, async () => {
    const sender = await startSender(app.url, ['/data?user_id={i}', '/data?user_id=1']);
    const port = Number(new URL(app.url).port);
    const idle = await Promise.all(Array.from({ length: 200 }, () => new Promise<Socket>((resolve, reject) => {
      const s = connect(port, '127.0.0.1', () => resolve(s));
      s.once('error', reject);
    })));
    after(() => idle.forEach((s) => s.destroy()));
    // Busy in 2 ms slices, yielding to I/O between them: the loop has no idle time, yet every request is read
    // within milliseconds.
    let slice = 2;
    let busy = true;
    const spin = (): void => {
      if (!busy) return;
      busyWait(slice);
      setImmediate(spin);
    };
    spin();
    await new Promise<void>((r) => setTimeout(r, 1500));
    const switchedAt = Date.now();
    slice = 700; // now requests queue in the kernel behind each slice
    await new Promise<void>((r) => setTimeout(r, 2100));
    busy = false;
    for (const s of idle) s.destroy();
    await new Promise((r) => setTimeout(r, 300)); // the loop is idle again
    const answers = await sender.finish();

    assert.deepEqual(answers.filter((a) => a.error), [], 'every request is answered');
    const calm = answers.filter((a) => a.phase === 'run' && (a.t ?? 0) < switchedAt);
    assert.ok(calm.length > 20, `requests were answered while the loop kept up: ${calm.length}`);
    // The old rule shed most of these misses (its admitted share fell towards 2 %). A loaded CI machine that
    // deschedules this process for longer than the target makes a request really wait that long, so a stray
    // shed is a true reading; a tenth is the bound that tells the two apart.
    const calmShed = calm.filter((a) => a.h?.['x-degraded-reason'] !== undefined);
    assert.ok(calmShed.length <= calm.length / 10, `shed while the loop kept up: ${calmShed.length} of ${calm.length}`);
    const shed = answers.filter((a) => a.h?.['x-degraded-reason'] === 'event-loop');
    assert.ok(shed.length > 0, 'misses that waited behind the long slices were shed');
    for (const a of shed) {
      assert.equal(a.path, '/data?user_id={i}', 'only misses are shed');
      assert.deepEqual([a.status, a.h?.['retry-after']], [503, '1']);
      assert.ok((a.t ?? 0) >= switchedAt, 'only behind the long slices');
    }
    for (const a of answers.filter((x) => x.path === '/data?user_id=1')) assert.deepEqual([a.status, a.body], [200, demoBody(1)], 'a fresh hit is never shed');
    const last = answers.filter((a) => a.phase === 'after');
    assert.equal(last.length, 2);
    for (const a of last) assert.deepEqual([a.status, a.h?.['x-degraded-reason']], [200, undefined], `recovered: ${JSON.stringify(a)}`);
    assert.ok(await metric(app.url, 'floodgate_degraded_total', { answer: 'refused', reason: 'event-loop' }) >= shed.length);
  });
});
