// Thresholds, options, the schedule and the verdict: the parts of flood that judge and plan, tested without a network.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { newHistogram } from '../../src/flood/histogram.ts';
import { resolveOptions, type RawOptions } from '../../src/flood/options.ts';
import { emptyCounts, type FloodResult, type SecondEntry } from '../../src/flood/result.ts';
import { parseStage, Schedule } from '../../src/flood/schedule.ts';
import { evaluateThresholds, parseThreshold } from '../../src/flood/threshold.ts';
import { parseDuration } from '../../src/flood/units.ts';
import { UsageError } from '../../src/flood/usage.ts';
import { verdict } from '../../src/flood/verdict.ts';

test('thresholds parse: percentiles, max, mean, errors, timeouts, rps', () => {
  assert.deepEqual(parseThreshold('p99<50ms'), { source: 'p99<50ms', metric: 'latency', stat: 99, op: '<', value: 50 });
  assert.deepEqual(parseThreshold('p99.9 <= 0.2s'), { source: 'p99.9 <= 0.2s', metric: 'latency', stat: 99.9, op: '<=', value: 200 });
  assert.deepEqual(parseThreshold('max<1s'), { source: 'max<1s', metric: 'latency', stat: 'max', op: '<', value: 1000 });
  assert.deepEqual(parseThreshold('avg<800us'), { source: 'avg<800us', metric: 'latency', stat: 'mean', op: '<', value: 0.8 });
  assert.deepEqual(parseThreshold('errors<0.1%'), { source: 'errors<0.1%', metric: 'errors', op: '<', value: 0.001, percent: true });
  assert.deepEqual(parseThreshold('errors<=10'), { source: 'errors<=10', metric: 'errors', op: '<=', value: 10, percent: false });
  assert.deepEqual(parseThreshold('timeouts<1%'), { source: 'timeouts<1%', metric: 'timeouts', op: '<', value: 0.01, percent: true });
  assert.deepEqual(parseThreshold('rps>=5k'), { source: 'rps>=5k', metric: 'rps', op: '>=', value: 5000 });
});

test('malformed thresholds are usage errors with a clear message', () => {
  const cases: [string, RegExp][] = [
    ['p99', /METRIC OP VALUE/],
    ['p99<50', /give the latency a unit, e\.g\. 50ms/],
    ['p99<fast', /not a duration/],
    ['p101<5ms', /between p0 and p100/],
    ['errors<lots', /share such as 0\.1%/],
    ['errors<1.5', /whole count/],
    ['latency<5ms', /unknown metric 'latency'/],
    ['p99=50ms', /METRIC OP VALUE/],
  ];
  for (const [text, message] of cases) {
    assert.throws(() => parseThreshold(text), (e: unknown) => e instanceof UsageError && message.test(e.message), text);
  }
});

function result(latenciesMs: number[], failures = 0, timeline: SecondEntry[] = []): FloodResult {
  const success = newHistogram();
  for (const v of latenciesMs) success.recordValue(v * 1000);
  const counts = emptyCounts();
  counts.ok = counts.responses = counts.sent = latenciesMs.length;
  counts.failures.refused = failures;
  return {
    scenario: {
      name: null, url: 'http://x/', method: 'GET', headers: [], body: null, model: 'closed', connections: 1, threads: 1, stages: [],
      durationMs: 1000, requests: null, timeoutMs: 2000, thinkMs: null, newConnection: false, insecure: false, ok: '200-399',
    },
    runs: [], startedAt: 0, durationMs: 1000, counts,
    histograms: { success, uncorrected: success, failure: newHistogram(), connect: newHistogram(), sendDelay: newHistogram() },
    timeline, stopped: null,
  };
}

test('thresholds evaluate against the result; a run with no successes fails every latency threshold', () => {
  const r = result([...Array(99).fill(10), 100], 1);
  const outcomes = evaluateThresholds(['p50<20ms', 'p99<50ms', 'max<=100ms', 'errors<0.5%', 'errors<=1', 'rps>50'].map(parseThreshold), r);
  assert.deepEqual(outcomes.map((o) => o.passed), [true, true, true, false, true, true]);
  assert.equal(evaluateThresholds([parseThreshold('p99<1s')], result([]))[0]?.passed, false);
});

test('options: defaults, models, and contradictions refused', () => {
  const closed = resolveOptions({ url: 'http://x/' });
  assert.equal(closed.model, 'closed');
  assert.equal(closed.connections, 10);
  assert.equal(closed.durationMs, 10_000);
  assert.equal(closed.timeoutMs, 2000);
  const open = resolveOptions({ url: 'http://x/', rate: '500', duration: '30s' });
  assert.equal(open.model, 'open');
  assert.deepEqual(open.stages, [{ durationMs: 30_000, from: 500, to: 500 }]);
  const staged = resolveOptions({ url: 'http://x/', stage: ['10s:0-5000', '60s:5000'] });
  assert.deepEqual(staged.stages.map((s) => [s.durationMs, s.from, s.to]), [[10_000, 0, 5000], [60_000, 5000, 5000]]);
  assert.equal(staged.durationMs, null);
  const refused: [RawOptions, RegExp][] = [
    [{ url: 'http://x/', rate: '5', stage: ['1s:5'] }, /one or the other/],
    [{ url: 'http://x/', stage: ['1s:5'], duration: '5s' }, /drop --duration/],
    [{ url: 'http://x/', rate: '5', think: '1s' }, /closed model/],
    [{ url: 'http://x/', connections: '2', threads: '3' }, /more than --connections/],
    [{ url: 'http://x/', connections: 'lots' }, /not a whole number/],
    [{ url: 'http://x/', duration: '30' }, /with a unit/],
    [{ url: 'http://x/', stage: ['fast'] }, /DURATION:RATE/],
    [{ url: 'http://x/', ok: '2xx' }, /--ok/],
    [{ url: 'http://x/', bail: '50' }, /percentage/],
    [{}, /no URL/],
  ];
  for (const [raw, message] of refused) {
    assert.throws(() => resolveOptions(raw), (e: unknown) => e instanceof UsageError && message.test(e.message), JSON.stringify(raw));
  }
});

test('durations', () => {
  assert.equal(parseDuration('1m30s', 'x'), 90_000);
  assert.equal(parseDuration('250ms', 'x'), 250);
  assert.equal(parseDuration('800us', 'x'), 0.8);
  assert.equal(parseDuration('1.5s', 'x'), 1500);
  assert.throws(() => parseDuration('5 s', 'x'), UsageError);
});

test('schedule: a ramp and a hold put each request at the moment the rate integral reaches it', () => {
  const s = new Schedule([parseStage('10s:0-5000'), parseStage('60s:5000')]);
  assert.equal(s.totalCount, 25_000 + 300_000);
  // 250·t² requests by t seconds during the ramp: request 2,500 is due at √10 s
  assert.ok(Math.abs((s.dueAt(2500) ?? 0) - Math.sqrt(10) * 1000) < 1e-6);
  assert.ok(Math.abs((s.dueAt(25_000) ?? 0) - 10_000) < 1e-6);
  assert.ok(Math.abs((s.dueAt(30_000) ?? 0) - 11_000) < 1e-6);
  assert.equal(s.dueAt(325_000), null);
  assert.equal(Math.round(s.countBefore(10_000)), 25_000);
  assert.equal(s.rateAt(5_000), 2500);
  const down = new Schedule([parseStage('2s:100-0')]);
  const times = [0, 50, 99].map((g) => down.dueAt(g) ?? -1);
  assert.ok(times[0] === 0 && (times[1] ?? 0) > 500 && (times[2] ?? 0) < 2000 && (times[2] ?? 0) > 1700, String(times));
});

function second(i: number, cpu: number, elu: number, loopDelayP99 = 1): SecondEntry {
  return {
    second: i, durationMs: 1000, counts: emptyCounts(), targetRps: null, histograms: { success: null, failure: null },
    latency: { count: 0, min: 0, mean: 0, p50: 0, p90: 0, p99: 0, p999: 0, max: 0 },
    generator: { elu, cpu, loopDelayP99, loopDelayMax: loopDelayP99, connections: 1, sendDelayP99: 0, lateSends: 0, waitedForConnection: 0 },
  };
}

test('verdict: trustworthy, generator-bound from the second it saturates, and a lone hiccup is not a trend', () => {
  const calm = verdict(result([1], 0, [0, 1, 2, 3].map((i) => second(i, 0.3, 0.4))));
  assert.equal(calm.trustworthy, true);
  assert.match(calm.text, /^TRUSTWORTHY/);
  const ramp = verdict(result([1], 0, [0, 1, 2, 3, 4, 5].map((i) => second(i, i >= 3 ? 0.97 : 0.5, i >= 3 ? 0.99 : 0.6))));
  assert.equal(ramp.trustworthy, false);
  assert.equal(ramp.generatorBoundFrom, 3);
  assert.match(ramp.text, /^GENERATOR-BOUND from 3 s on \(3 of 6 s\): CPU at 97% of a core, event loop 99% busy/);
  assert.deepEqual(ramp.reasons, ['cpu', 'event-loop']);
  const blip = verdict(result([1], 0, [0, 1, 2, 3, 4, 5].map((i) => second(i, 0.3, 0.4, i === 2 ? 40 : 1))));
  assert.equal(blip.trustworthy, true);
  assert.match(blip.text, /brief generator stall .*at 2 s.*event-loop delay p99 40\.0 ms/);
});
