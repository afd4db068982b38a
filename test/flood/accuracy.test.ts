// The accuracy flood promises, measured against servers whose behaviour the test controls.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { percentileMs } from '../../src/flood/histogram.ts';
import { summarize } from '../../src/flood/result.ts';
import { flood, startServer } from './helpers.ts';

test('a server with a fixed 20 ms delay is reported with p50 between 20 and 25 ms', async () => {
  await using srv = await startServer((_req, res) => {
    setTimeout(() => res.end('ok'), 20);
  });
  const r = await flood({ url: `${srv.url}/slow`, connections: '10', duration: '2s' });
  const s = summarize(r);
  assert.ok(s.ok > 400, `enough samples (${s.ok})`);
  assert.ok(s.latency.p50 >= 20 && s.latency.p50 <= 25, `p50 ${s.latency.p50} ms`);
  // Node's timers may fire a fraction of a millisecond early (they count from the loop's cached clock)
  assert.ok(s.latency.min >= 15, `nothing much faster than the delay (min ${s.latency.min} ms)`);
});

test('open model: a server that stalls once for 1 s shows in the corrected p99 (>= 500 ms); the uncorrected one hides it', async () => {
  let first = 0;
  await using srv = await startServer((_req, res) => {
    const now = Date.now();
    if (first === 0) first = now;
    const stallFrom = first + 1000;
    const stallUntil = stallFrom + 1000;
    if (now >= stallFrom && now < stallUntil) setTimeout(() => res.end('late'), stallUntil - now);
    else res.end('ok');
  });
  // a small pool (-c 10): during the stall most requests cannot even leave, exactly the case wrk2 corrects for
  const r = await flood({ url: srv.url, rate: '500', duration: '4s', connections: '10' });
  const corrected = percentileMs(r.histograms.success, 99);
  const uncorrected = percentileMs(r.histograms.uncorrected, 99);
  assert.ok(r.counts.ok >= 1900, `requests answered: ${r.counts.ok}`);
  assert.ok(corrected >= 500, `corrected p99 ${corrected} ms`);
  assert.ok(uncorrected < corrected / 2, `uncorrected p99 ${uncorrected} ms stays far below the corrected ${corrected} ms`);
  assert.ok(r.counts.waitedForConnection > 100, `requests waited for a connection: ${r.counts.waitedForConnection}`);
});

test('the hit count flood reports equals the count the server saw (request-bounded and time-bounded runs)', async () => {
  await using srv = await startServer((_req, res) => res.end('ok'));
  const byCount = await flood({ url: srv.url, connections: '20', requests: '1000' });
  assert.equal(summarize(byCount).hits, 1000);
  assert.equal(srv.hits, 1000);
  const before = srv.hits;
  const byTime = await flood({ url: srv.url, connections: '20', duration: '1s' });
  assert.ok(summarize(byTime).hits > 100);
  assert.equal(summarize(byTime).hits, srv.hits - before);
});

test('open model: the rate is held, and the hit count still matches the server', async () => {
  await using srv = await startServer((_req, res) => res.end('ok'));
  const r = await flood({ url: srv.url, rate: '400', duration: '2s' });
  const s = summarize(r);
  assert.equal(s.hits, srv.hits);
  // 800 requests are due in 2 s; allow a little slack at the edges on a busy machine
  assert.ok(s.hits >= 780 && s.hits <= 801, `hits ${s.hits}`);
  assert.equal(r.counts.missedSends, 0);
});

test('worker threads: load split over two threads, histograms merged exactly, hits match the server', async () => {
  await using srv = await startServer((_req, res) => res.end('ok'));
  const r = await flood({ url: `${srv.url}/t?n={{seq}}`, connections: '8', threads: '2', requests: '2000' });
  const s = summarize(r);
  assert.equal(s.hits, 2000);
  assert.equal(srv.hits, 2000);
  assert.equal(r.histograms.success.totalCount, 2000);
  assert.equal(r.timeline.reduce((n, e) => n + e.counts.ok, 0), 2000);
});

test('a stage ramp sends the integral of its rate', async () => {
  await using srv = await startServer((_req, res) => res.end('ok'));
  // 0 → 400 rps over 1 s is 200 requests, then 200 rps for 0.5 s is 100 more
  const r = await flood({ url: srv.url, stage: ['1s:0-400', '500ms:200'] });
  const hits = summarize(r).hits;
  assert.ok(hits >= 295 && hits <= 301, `hits ${hits}`);
});

test('closed model: think time paces each virtual user', async () => {
  await using srv = await startServer((_req, res) => res.end('ok'));
  // one user, six requests, 100 ms of thinking between them: at least 500 ms however fast the machine is
  const r = await flood({ url: srv.url, connections: '1', requests: '6', think: '100ms' });
  assert.equal(summarize(r).hits, 6);
  assert.ok(r.durationMs >= 500, `took ${r.durationMs} ms`);
});
