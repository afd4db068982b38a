// /dashboard's server side: assets and their cache headers, the read credentials, sampling only while a stream
// is open, frames over SSE; and the frame arithmetic (rates, percentiles, the health line).
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { test } from 'node:test';
import { frameOf, healthOf, quantile, type Reading } from '../../src/http/dashboard-frame.ts';
import { startTestApp } from '../support/app.ts';

/** Opens /dashboard/events and resolves with the first `n` frames (then closes the stream). */
function frames(base: string, n: number, headers: Record<string, string> = {}): Promise<{ status: number; type: string | undefined; frames: unknown[] }> {
  return new Promise((resolve, reject) => {
    const req = request(`${base}/dashboard/events`, { headers }, (res) => {
      const got: unknown[] = [];
      let buf = '';
      if (res.statusCode !== 200) {
        res.resume();
        resolve({ status: res.statusCode ?? 0, type: res.headers['content-type'], frames: [] });
        return;
      }
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        buf += chunk;
        let at;
        while ((at = buf.indexOf('\n\n')) !== -1) {
          const event = buf.slice(0, at);
          buf = buf.slice(at + 2);
          const data = event.split('\n').find((l) => l.startsWith('data: '));
          if (data) got.push(JSON.parse(data.slice(6)));
          if (got.length === n) {
            req.destroy();
            resolve({ status: 200, type: res.headers['content-type'], frames: got });
            return;
          }
        }
      });
    });
    req.on('error', (err) => (err.message === 'socket hang up' ? undefined : reject(err)));
    req.end();
  });
}

test('the page and its assets: hashed names cached for a year, the page revalidated, a CSP of self only, no outside URL in any of them', async () => {
  await using app = await startTestApp({ env: { FLOODGATE_SEED: '10' } });
  const page = await fetch(`${app.url}/dashboard`);
  assert.equal(page.status, 200);
  assert.equal(page.headers.get('cache-control'), 'no-cache');
  assert.match(page.headers.get('content-security-policy') ?? '', /default-src 'none'; script-src 'self'/);
  const html = await page.text();
  const assets = [...html.matchAll(/(?:src|href)="(\/dashboard\/[^"]+)"/g)].map((m) => m[1] as string);
  assert.equal(assets.length, 2, html);
  for (const path of assets) {
    assert.match(path, /^\/dashboard\/dashboard\.[0-9a-f]{16}\.(js|css)$/);
    const res = await fetch(`${app.url}${path}`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('cache-control'), 'public, max-age=31536000, immutable');
    const body = await res.text();
    assert.doesNotMatch(body, /https?:\/\//, `${path} names no outside URL`);
    const again = await fetch(`${app.url}${path}`, { headers: { 'If-None-Match': res.headers.get('etag') ?? '' } });
    assert.equal(again.status, 304);
  }
  assert.doesNotMatch(html.replace('href="/metrics"', ''), /https?:\/\//);
  const missing = await fetch(`${app.url}/dashboard/nope.js`);
  assert.equal(missing.status, 404);
  assert.equal(((await missing.json()) as { error: { code: string } }).error.code, 'FG_ERR_ROUTE_NOT_FOUND');
  assert.equal((await fetch(`${app.url}/dashboard`, { method: 'POST' })).status, 405);
});

test('the read credentials guard the page and its stream, as they guard /metrics', async () => {
  await using app = await startTestApp({ env: { FLOODGATE_SEED: '10', FLOODGATE_READ_BASIC_AUTH: 'ops:pw' } });
  const denied = await fetch(`${app.url}/dashboard`);
  assert.equal(denied.status, 401);
  assert.match(denied.headers.get('www-authenticate') ?? '', /^Basic/);
  assert.equal((await frames(app.url, 1)).status, 401);
  const auth = { Authorization: `Basic ${Buffer.from('ops:pw').toString('base64')}` };
  assert.equal((await fetch(`${app.url}/dashboard`, { headers: auth })).status, 200);
  const got = await frames(app.url, 1, auth);
  assert.equal(got.status, 200);
  assert.equal(got.type, 'text/event-stream; charset=utf-8');
});

test('sampling runs only while a stream is open; frames carry the rates of the requests answered meanwhile', async () => {
  await using app = await startTestApp({ env: { FLOODGATE_SEED: '100' } });
  const streams = async (): Promise<number> => {
    const text = await (await fetch(`${app.url}/metrics`)).text();
    return Number(/^floodgate_dashboard_streams (\S+)$/m.exec(text)?.[1]);
  };
  assert.equal(await streams(), 0);
  const reading = frames(app.url, 3);
  const stop = Date.now() + 2500;
  let reads = 0;
  while (Date.now() < stop && reads < 5000) {
    await (await fetch(`${app.url}/data?user_id=${(reads % 100) + 1}`)).arrayBuffer();
    reads++;
  }
  const got = (await reading).frames as { rps: Record<string, number>; p99Ms: number | null; memoryHitRatio: number | null; workers: unknown[]; health: { state: string } }[];
  assert.equal(got.length, 3);
  assert.ok(got.some((f) => (f.rps['2xx'] ?? 0) > 0), JSON.stringify(got.map((f) => f.rps)));
  assert.ok(got.some((f) => f.p99Ms !== null && f.p99Ms > 0));
  assert.ok(got.some((f) => (f.memoryHitRatio ?? 0) > 0));
  assert.equal(got[0]?.workers.length, 1);
  assert.equal(got[0]?.health.state, 'healthy');
  for (let i = 0; i < 100 && (await streams()) !== 0; i++) await new Promise((r) => setTimeout(r, 20));
  assert.equal(await streams(), 0, 'the stream is gone once the client leaves');
});

const reading = (pid: number, over: Partial<Reading> = {}): Reading => ({
  pid, statuses: {}, readBuckets: [], memory: {}, redis: {}, degraded: {}, busySeconds: 0, eventLoopDelayS: 0, rss: 0, heap: 0,
  rssMax: 0, heapMax: 0, pool: undefined, up: { store: 1 }, connections: 0, inFlight: 0, underPressure: false, ...over,
});

test('frames: per-second rates summed over workers, a restarted worker (counter reset) counted from zero, percentiles interpolated', () => {
  const before = new Map([
    [1, reading(1, { statuses: { '2xx': 100 }, busySeconds: 1, readBuckets: [{ le: 0.001, n: 90 }, { le: 0.01, n: 100 }, { le: Infinity, n: 100 }] })],
    [2, reading(2, { statuses: { '2xx': 5000, '5xx': 10 }, busySeconds: 2 })],
  ]);
  const now = [
    reading(1, { statuses: { '2xx': 300 }, busySeconds: 2, readBuckets: [{ le: 0.001, n: 190 }, { le: 0.01, n: 300 }, { le: Infinity, n: 300 }] }),
    reading(2, { statuses: { '2xx': 40, '5xx': 2 }, busySeconds: 2.5 }), // restarted: its counters went down
  ];
  const f = frameOf(2000, 2, now, before);
  assert.equal(f.rps['2xx'], (200 + 40) / 2);
  assert.equal(f.rps['5xx'], 1);
  assert.equal(f.workers[0]?.rps, 100);
  assert.equal(f.utilization, (0.5 + 0.25) / 2);
  // 200 reads: 100 under 1 ms, 100 between 1 and 10 ms; the median is at the first bucket's bound.
  assert.equal(f.p50Ms, 1);
  assert.ok(f.p99Ms !== null && f.p99Ms > 9 && f.p99Ms <= 10);
  assert.equal(quantile(0.5, []), null);
});

test('the health line: degraded names the dependency, shedding names the reason, else healthy', () => {
  const deps = (redis: 'up' | 'down' | 'absent') => ({ store: 'up' as const, redis });
  assert.equal(healthOf({ degraded: {}, dependencies: deps('up') }, false, 0).state, 'healthy');
  const redisDown = healthOf({ degraded: {}, dependencies: deps('down') }, false, 0);
  assert.equal(redisDown.state, 'degraded');
  assert.match(redisDown.text, /Redis/);
  const shed = healthOf({ degraded: { 'refused event-loop': 30 }, dependencies: deps('absent') }, false, 0);
  assert.equal(shed.state, 'shedding');
  assert.match(shed.text, /30 reads\/s \(event-loop\)/);
  const store = healthOf({ degraded: { 'stale store-error': 5 }, dependencies: deps('up') }, false, 0);
  assert.equal(store.state, 'degraded');
  assert.match(store.text, /store/);
});
