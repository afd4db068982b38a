// JSON round trip and merging: a merged histogram must equal the histogram of the union of the runs' values.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { encodeHistogram, newHistogram, type Histogram } from '../../src/flood/histogram.ts';
import { resultFromJson, resultToJson, resultsFromText, SCHEMA, SCHEMA_VERSION } from '../../src/flood/json.ts';
import { mergeResults } from '../../src/flood/merge.ts';
import { emptyCounts, summarize, type FloodResult, type SecondEntry } from '../../src/flood/result.ts';
import { latencyStats } from '../../src/flood/histogram.ts';
import { UsageError } from '../../src/flood/usage.ts';
import { flood, startServer } from './helpers.ts';

const TOOL = { name: 'floodgate flood', version: 'test', node: process.version };

/** A deterministic pseudo-random latency in µs, spread over five orders of magnitude. */
function values(seed: number, n: number): number[] {
  let x = seed;
  return Array.from({ length: n }, () => {
    x = (x * 1103515245 + 12345) % 2 ** 31;
    return Math.floor(10 ** (2 + (x / 2 ** 31) * 4));
  });
}

function histogramOf(vs: readonly number[]): Histogram {
  const h = newHistogram();
  for (const v of vs) h.recordValue(v);
  return h;
}

/**
 * Two histograms are equal when every bucket holds the same count. (An encoded histogram keeps buckets, not the
 * exact extreme values: after decoding, max reads as its bucket's highest equivalent value, within 0.1 %.)
 */
function assertSameHistogram(a: Histogram, b: Histogram): void {
  assert.equal(a.totalCount, b.totalCount);
  assert.equal(a.getValueAtPercentile(100), b.getValueAtPercentile(100));
  assert.equal(a.mean, b.mean);
  const buckets = (h: Histogram): string => h.outputPercentileDistribution().replace(/#\[Max .*\n/, '');
  assert.equal(buckets(a), buckets(b));
}

const percentiles = (st: { count: number; p50: number; p90: number; p99: number; p999: number; mean: number }): number[] =>
  [st.count, st.p50, st.p90, st.p99, st.p999, st.mean];

function syntheticResult(seed: number, startedAt: number, seconds: number): { result: FloodResult; all: number[] } {
  const all: number[] = [];
  const timeline: SecondEntry[] = [];
  for (let s = 0; s < seconds; s++) {
    const vs = values(seed * 100 + s, 500 + s * 37);
    all.push(...vs);
    const h = histogramOf(vs);
    const counts = emptyCounts();
    counts.sent = counts.ok = counts.responses = vs.length;
    counts.statuses = { '200': vs.length };
    timeline.push({
      second: s, durationMs: 1000, counts, targetRps: null, histograms: { success: encodeHistogram(h), failure: null },
      latency: latencyStats(h),
      generator: { elu: 0.2, cpu: 0.1, loopDelayP99: 1, loopDelayMax: 2, connections: 10, sendDelayP99: 0, lateSends: 0, waitedForConnection: 0 },
    });
  }
  const success = histogramOf(all);
  const counts = emptyCounts();
  counts.sent = counts.ok = counts.responses = all.length;
  counts.statuses = { '200': all.length };
  const result: FloodResult = {
    scenario: {
      name: null, url: 'http://127.0.0.1:1/', method: 'GET', headers: [], body: null, model: 'closed', connections: 10, threads: 1,
      stages: [], durationMs: seconds * 1000, requests: null, timeoutMs: 2000, thinkMs: null, newConnection: false, insecure: false, ok: '200-399',
    },
    runs: [{ host: `host${seed}`, startedAt, durationMs: seconds * 1000, threads: 1, connections: 10, url: 'http://127.0.0.1:1/' }],
    startedAt,
    durationMs: seconds * 1000,
    counts,
    histograms: { success, uncorrected: success, failure: newHistogram(), connect: newHistogram(), sendDelay: newHistogram() },
    timeline,
    stopped: null,
  };
  return { result, all };
}

function roundTrip(r: FloodResult): FloodResult {
  return resultFromJson(JSON.parse(JSON.stringify(resultToJson(r, TOOL, []))), 'test.json');
}

test('JSON round trip keeps counts, histograms and timeline exactly', () => {
  const { result } = syntheticResult(1, 1_700_000_000_000, 3);
  const back = roundTrip(result);
  assert.deepEqual(back.counts, result.counts);
  assertSameHistogram(back.histograms.success, result.histograms.success);
  assert.equal(back.timeline.length, 3);
  assert.deepEqual(back.timeline.map((e) => percentiles(e.latency)), result.timeline.map((e) => percentiles(e.latency)));
  assert.deepEqual(percentiles(summarize(back).latency), percentiles(summarize(result).latency));
  assert.equal(summarize(back).hits, summarize(result).hits);
  const doc = resultToJson(result, TOOL, []);
  assert.equal(doc['schema'], SCHEMA);
  assert.equal(doc['version'], SCHEMA_VERSION);
  assert.deepEqual(Object.keys(doc).at(-1), 'verdict', 'the JSON ends with the verdict');
});

test('merge is exact: the merged histogram equals the histogram of the union of all values', () => {
  const a = syntheticResult(1, 1_700_000_000_000, 3);
  const b = syntheticResult(2, 1_700_000_000_400, 4);
  const c = syntheticResult(3, 1_700_000_000_900, 2);
  const merged = mergeResults([roundTrip(a.result), roundTrip(b.result), roundTrip(c.result)]);
  const union = histogramOf([...a.all, ...b.all, ...c.all]);
  assertSameHistogram(merged.histograms.success, union);
  assert.equal(merged.counts.ok, a.all.length + b.all.length + c.all.length);
  assert.equal(merged.runs.length, 3);
  assert.equal(merged.scenario.connections, 30);
  // the timeline merges second by second: second 0 holds second 0 of every run
  const second0 = histogramOf([...values(100, 500), ...values(200, 500), ...values(300, 500)]);
  assert.deepEqual(percentiles(merged.timeline[0]?.latency ?? latencyStats(newHistogram())), percentiles(latencyStats(second0)));
  assert.equal(merged.timeline.length, 4);
  // and merging the merged result's JSON again changes nothing
  assertSameHistogram(roundTrip(merged).histograms.success, union);
  // a merged p99 is not the average of p99s
  const avg = [a, b, c].reduce((n, x) => n + summarize(x.result).latency.p99, 0) / 3;
  assert.notEqual(summarize(merged).latency.p99, avg);
});

test('reading refuses what is not a flood result, naming the file', () => {
  assert.throws(() => resultsFromText('not json', 'x.json'), (e: unknown) => e instanceof UsageError && /x\.json: not JSON/.test(e.message));
  assert.throws(() => resultsFromText('{"schema":"other"}', 'y.json'), /y\.json: not a flood result/);
  assert.throws(() => resultsFromText(JSON.stringify({ schema: SCHEMA, version: 99 }), 'z.json'), /schema version 99/);
});

test('real runs: JSON out, merged, equal the sum of their histograms', async () => {
  await using srv = await startServer((_req, res) => {
    setTimeout(() => res.end('ok'), Math.random() * 4);
  });
  const one = await flood({ url: srv.url, connections: '4', requests: '300' });
  const two = await flood({ url: srv.url, connections: '4', requests: '200', threads: '2' });
  const merged = mergeResults([roundTrip(one), roundTrip(two)]);
  const union = newHistogram();
  union.add(one.histograms.success);
  union.add(two.histograms.success);
  assertSameHistogram(merged.histograms.success, union);
  assert.equal(summarize(merged).hits, 500);
  assert.equal(srv.hits, 500);
});
