// npm run bench:soak [-- --minutes N] [--rate R] [--cache-bytes SIZE]: the soak of issue 11. `floodgate serve
// --workers 1` on SQLite with 1,000,000 demo users and the default cache (unless --cache-bytes), pinned to core 0;
// `floodgate flood --rate 12000` (open loop, random ids over 1..1,000,000, 2 s timeout) pinned to core 1, for 10
// minutes by default (an hour: --minutes 60). It prints one row a minute: req/s, p99 (from schedule), timeouts
// (> 2 s), 503s, the worker's RSS (/proc/<pid>/status) and V8 heap used, and the longest GC pause (the server's
// floodgate_gc_pause_max_seconds, scraped once a minute: the longest since the previous scrape; the pauses over 50 ms
// come from its floodgate_gc_pause_seconds histogram). Then the acceptance, each PASS/FAIL with its figure:
//   - 0 timeouts and p99 < 50 ms after the first minute;
//   - no GC pause over 50 ms;
//   - RSS within --cache-bytes + 25 % of the worker's empty RSS (its RSS once ready, before any traffic);
//   - RSS flat (within ±5 % of its mean) over the last 5 minutes.
// It is a benchmark: it prints, it does not fail on timing. On a shared machine figures are noisy: the load
// average is printed per minute. Environment: SOAK_MINUTES, SOAK_RATE, SOAK_KEYS (1,000,000), SOAK_CACHE_BYTES,
// SOAK_TRACE_GC=1 (the server and its worker run with --trace-gc, which cluster workers inherit; its lines go to .bench/soak-trace-gc.log). flood's JSON
// result is kept in .bench/soak-flood.json (floodgate flood merge .bench/soak-flood.json --html r.html charts it).
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync, readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { OPTIONS, parseSizeText } from '../src/config.ts';
import { decodeHistogram } from '../src/flood/histogram.ts';
import { sumMetric } from '../test/support/serve.ts';
import { demoSqliteStore, freePort, pin, table } from './load.ts';
import { childrenOf, rssOf } from './memory-worker.ts';

const { values: flags } = parseArgs({
  options: { minutes: { type: 'string' }, rate: { type: 'string' }, 'cache-bytes': { type: 'string' }, help: { type: 'boolean', short: 'h' } },
  strict: true,
});
if (flags.help === true) {
  process.stdout.write(readFileSync(import.meta.filename, 'utf8').split('\nimport ')[0]?.replace(/^\/\/ ?/gm, '') + '\n');
  process.exit(0);
}
const usage = (problem: string): never => {
  process.stderr.write(`bench:soak: ${problem} (npm run bench:soak -- --help)\n`);
  process.exit(2);
};
const MINUTES = Number(flags.minutes ?? process.env.SOAK_MINUTES ?? 10);
if (!Number.isInteger(MINUTES) || MINUTES < 1 || MINUTES > 24 * 60) usage(`--minutes takes a whole number of minutes from 1 to 1440, not ${flags.minutes ?? process.env.SOAK_MINUTES}`);
const RATE = Number(flags.rate ?? process.env.SOAK_RATE ?? 12_000);
if (!Number.isFinite(RATE) || RATE <= 0) usage(`--rate takes requests per second above 0, not ${flags.rate ?? process.env.SOAK_RATE}`);
const KEYS = Number(process.env.SOAK_KEYS ?? 1_000_000);
const cacheText = flags['cache-bytes'] ?? process.env.SOAK_CACHE_BYTES;
let CACHE_BYTES: number = OPTIONS.cacheBytes.default;
try {
  if (cacheText !== undefined) CACHE_BYTES = parseSizeText(cacheText);
} catch (err) {
  usage(`--cache-bytes: ${(err as Error).message}`);
}
if (CACHE_BYTES <= 0) usage('--cache-bytes must be above 0: the soak measures the memory tier');
const TRACE_GC = process.env.SOAK_TRACE_GC === '1';
const LIMIT_MS = 50;
const root = resolve(import.meta.dirname, '..');
const work = join(root, '.bench');
mkdirSync(work, { recursive: true });
const node = process.execPath;
const log = (line: string): void => void process.stderr.write(`${line}\n`);
const MB = (b: number): string => (b / 1e6).toFixed(0);

/** Spawns argv pinned to `core` with the open-files soft limit raised to the hard one (flood opens up to 1,000 connections). */
function spawnWithFiles(core: number, argv: string[], opts: { env?: NodeJS.ProcessEnv; stdout?: 'ignore' | 'pipe' } = {}): ChildProcess {
  return spawn('bash', ['-c', 'ulimit -n "$(ulimit -Hn)"; exec "$@"', 'bash', ...pin(core), ...argv], { cwd: root, stdio: ['ignore', opts.stdout ?? 'ignore', 'inherit'], env: opts.env ?? process.env });
}

async function scrape(url: string): Promise<string> {
  const res = await fetch(`${url}/metrics`, { signal: AbortSignal.timeout(10_000) });
  return res.text();
}

/** Pauses over LIMIT_MS so far, from the histogram (the buckets above 50 ms). */
function pausesOver(text: string): number {
  return sumMetric(text, 'floodgate_gc_pause_seconds_count') - sumMetric(text, 'floodgate_gc_pause_seconds_bucket', { le: String(LIMIT_MS / 1000) });
}

interface Minute {
  scrapedAt: number;
  rss: number;
  rssMax: number;
  heapUsed: number;
  gcMaxMs: number;
  gcOver: number;
  entries: number;
  evictions: number;
  load: number;
}

const dataDir = demoSqliteStore(KEYS, log);
const port = await freePort();
const url = `http://127.0.0.1:${port}`;
const serverEnv: NodeJS.ProcessEnv = { ...process.env, DATABASE_URL: '', REDIS_URL: '' };
for (const k of Object.keys(serverEnv)) if (k.startsWith('FLOODGATE_')) delete serverEnv[k];
const serveArgs = ['serve', '--workers', '1', '--host', '127.0.0.1', '--port', String(port), '--data-dir', dataDir, '--seed', '0', '--log-level', 'warn', ...(cacheText === undefined ? [] : ['--cache-bytes', String(CACHE_BYTES)])];
log(`bench:soak: ${MINUTES} min at ${RATE.toLocaleString('en')} req/s over ${KEYS.toLocaleString('en')} ids, cache ${(CACHE_BYTES / 2 ** 20).toFixed(0)} MiB${cacheText === undefined ? ' (the default)' : ''}; ` +
  `floodgate serve ${serveArgs.slice(1).join(' ')} on core 0, floodgate flood on core 1${TRACE_GC ? '; --trace-gc to .bench/soak-trace-gc.log' : ''}`);
const server = spawnWithFiles(0, [node, '--disable-warning=ExperimentalWarning', ...(TRACE_GC ? ['--trace-gc'] : []), 'bin/floodgate.js', ...serveArgs], { env: serverEnv, stdout: TRACE_GC ? 'pipe' : 'ignore' });
if (TRACE_GC) server.stdout?.pipe(createWriteStream(join(work, 'soak-trace-gc.log')));
let flood: ChildProcess | undefined;
const cleanup = (): void => {
  flood?.kill('SIGKILL');
  server.kill('SIGTERM');
};
process.on('SIGINT', () => {
  cleanup();
  process.exit(130);
});
process.on('exit', cleanup);

for (const until = Date.now() + 120_000; ; await new Promise((r) => setTimeout(r, 200))) {
  const ok = await fetch(`${url}/readyz`).then((r) => r.status === 200, () => false);
  if (ok) break;
  if (server.exitCode !== null) throw new Error(`floodgate serve exited during start (code ${server.exitCode})`);
  if (Date.now() > until) throw new Error('floodgate serve did not become ready within 2 minutes');
}
const worker = childrenOf(server.pid ?? -1)[0];
if (worker === undefined) throw new Error('no worker process found under the primary');
await new Promise((r) => setTimeout(r, 2000));
const emptyRss = rssOf(worker);
const emptyHeap = sumMetric(await scrape(url), 'floodgate_nodejs_heap_size_used_bytes');
log(`  worker ${worker} ready: empty RSS ${MB(emptyRss)} MB, heap used ${MB(emptyHeap)} MB; the RSS limit is ${MB(emptyRss + 1.25 * CACHE_BYTES)} MB (empty + 1.25 × ${MB(CACHE_BYTES)} MB)`);

const floodFile = join(work, 'soak-flood.json');
const floodArgs = ['flood', `${url}/data?user_id={{int 1 ${KEYS}}}`, '--rate', String(RATE), '--duration', `${MINUTES}m`, '--timeout', '2s', '--name', 'bench:soak', '--json', floodFile];
const floodStart = Date.now();
flood = spawnWithFiles(1, [node, '--disable-warning=ExperimentalWarning', 'bin/floodgate.js', ...floodArgs]);
const floodDone = new Promise<number | null>((r) => flood?.once('exit', (code) => r(code)));

// RSS every 5 s (its peak per minute), /metrics at every minute boundary.
let rssMax = 0;
const rssSamples: { at: number; rss: number }[] = [];
const sampler = setInterval(() => {
  const rss = rssOf(worker);
  if (Number.isFinite(rss)) {
    rssMax = Math.max(rssMax, rss);
    rssSamples.push({ at: Date.now() - floodStart, rss });
  }
}, 5000);
const minutes: Minute[] = [];
let lastOver = 0;
for (let m = 1; m <= MINUTES; m++) {
  const wait = floodStart + m * 60_000 - Date.now();
  if (wait > 0) await Promise.race([new Promise((r) => setTimeout(r, wait)), floodDone]);
  if (flood.exitCode !== null) break;
  const text = await scrape(url).catch(() => '');
  const rss = rssOf(worker);
  const over = pausesOver(text);
  const row: Minute = {
    scrapedAt: Date.now() - floodStart, rss, rssMax: Math.max(rssMax, rss), heapUsed: sumMetric(text, 'floodgate_nodejs_heap_size_used_bytes'),
    gcMaxMs: sumMetric(text, 'floodgate_gc_pause_max_seconds') * 1000, gcOver: over - lastOver,
    entries: sumMetric(text, 'floodgate_memory_entries'), evictions: sumMetric(text, 'floodgate_memory_evictions_total'), load: loadavg()[0] ?? NaN,
  };
  lastOver = over;
  rssMax = 0;
  minutes.push(row);
  log(`  minute ${m}: RSS ${MB(row.rss)} MB (peak ${MB(row.rssMax)}), heap used ${MB(row.heapUsed)} MB, longest GC pause ${row.gcMaxMs.toFixed(1)} ms, ` +
    `cache ${row.entries.toLocaleString('en')} entries, ${row.evictions.toLocaleString('en')} evictions, load avg ${row.load.toFixed(2)}`);
}
const code = await floodDone;
clearInterval(sampler);
// The tail: whatever GC happened between the last minute's scrape and the end of the run.
const tail = await scrape(url).catch(() => '');
const tailGcMs = sumMetric(tail, 'floodgate_gc_pause_max_seconds') * 1000;
const tailOver = pausesOver(tail) - lastOver;
server.kill('SIGTERM');
if (code !== 0 && code !== 1) throw new Error(`floodgate flood exited ${code}`);

interface FloodJson {
  counts: { statuses: Record<string, number>; failures: Record<string, number> };
  timeline: { second: number; durationMs: number; counts: { responses: number; statuses: Record<string, number>; failures: Record<string, number> }; histograms: { success: string | null } }[];
  generator: { maxCpu: number; achievedRps: number; missedSends: number };
  verdict: { trustworthy: boolean; text: string };
}
const doc = JSON.parse(readFileSync(floodFile, 'utf8')) as FloodJson;
/** The seconds [from, to) of the run: finished requests a second, exact p99 (ms, from schedule), timeouts, 503s, other failures. */
function window(from: number, to: number) {
  const h = decodeHistogram(null);
  let responses = 0, timeouts = 0, s503 = 0, failures = 0, ms = 0;
  for (const s of doc.timeline) {
    if (s.second < from || s.second >= to) continue;
    ms += s.durationMs;
    if (s.histograms.success) h.add(decodeHistogram(s.histograms.success));
    for (const [k, n] of Object.entries(s.counts.failures)) {
      if (k === 'timeout' || k === 'connect-timeout') timeouts += n;
      else failures += n;
    }
    responses += s.counts.responses;
    s503 += s.counts.statuses['503'] ?? 0;
  }
  return { rps: ms > 0 ? (responses * 1000) / ms : 0, p99: h.totalCount > 0 ? h.getValueAtPercentile(99) / 1000 : NaN, max: h.totalCount > 0 ? h.maxValue / 1000 : NaN, timeouts, s503, failures, seconds: ms / 1000 };
}
const ran = minutes.length;
const rows = minutes.map((row, i) => {
  const w = window(i * 60, (i + 1) * 60 + (i === ran - 1 ? 1 : 0)); // the last minute takes the short tail flood folds in
  return {
    minute: i + 1, 'req/s': Math.round(w.rps), 'p99 ms': w.p99.toFixed(1), 'max ms': w.max.toFixed(0), timeouts: w.timeouts, '503s': w.s503, 'other errors': w.failures,
    'RSS MB': MB(row.rss), 'RSS peak MB': MB(row.rssMax), 'heap used MB': MB(row.heapUsed), 'longest GC ms': row.gcMaxMs.toFixed(1), 'GC > 50 ms': row.gcOver,
    'cache entries': row.entries, evictions: row.evictions, 'load avg': row.load.toFixed(2),
  };
});
process.stdout.write(`\n${table(rows)}\n`);

// Acceptance.
const after = window(60, Infinity);
const gcMax = Math.max(tailGcMs, ...minutes.map((r) => r.gcMaxMs));
const gcOver = tailOver + minutes.reduce((a, r) => a + r.gcOver, 0);
const peak = Math.max(...rssSamples.map((s) => s.rss), ...minutes.map((r) => r.rssMax));
const rssLimit = emptyRss + 1.25 * CACHE_BYTES;
const lastFrom = Math.max(0, MINUTES - 5) * 60_000;
const lastRss = rssSamples.filter((s) => s.at >= lastFrom).map((s) => s.rss);
const mean = lastRss.reduce((a, b) => a + b, 0) / Math.max(1, lastRss.length);
const spread = lastRss.length === 0 ? NaN : Math.max(...lastRss.map((r) => Math.abs(r - mean) / mean));
const verdict = (ok: boolean): string => (ok ? 'PASS' : 'FAIL');
const lastSpan = Math.min(5, MINUTES);
const lines = [
  `${verdict(after.timeouts === 0)}  timeouts after the first minute: ${after.timeouts} (first minute: ${window(0, 60).timeouts})`,
  `${verdict(after.p99 < LIMIT_MS)}  p99 after the first minute: ${after.p99.toFixed(1)} ms (limit ${LIMIT_MS} ms; from schedule, ${Math.round(after.seconds)} s of requests)`,
  `${verdict(gcOver === 0 && gcMax <= LIMIT_MS)}  longest GC pause: ${gcMax.toFixed(1)} ms; pauses over ${LIMIT_MS} ms: ${gcOver}`,
  `${verdict(peak <= rssLimit)}  peak RSS ${MB(peak)} MB = empty ${MB(emptyRss)} MB + ${MB(peak - emptyRss)} MB, ${((peak - emptyRss) / CACHE_BYTES).toFixed(2)} × --cache-bytes (limit empty + 1.25 × ${MB(CACHE_BYTES)} MB = ${MB(rssLimit)} MB)`,
  `${verdict(spread <= 0.05)}  RSS over the last ${lastSpan} minute${lastSpan === 1 ? '' : 's'}: within ±${(100 * spread).toFixed(1)} % of its mean ${MB(mean)} MB (limit ±5 %; ${lastRss.length} samples every 5 s)` +
    (MINUTES < 10 ? ` — a run of ${MINUTES} min: the last 5 minutes include the warm-up` : ''),
];
const total = window(0, Infinity);
process.stdout.write(`\nacceptance (issue 11):\n${lines.map((l) => `  ${l}`).join('\n')}\n`);
process.stdout.write(`\nwhole run: ${Math.round(total.rps)} req/s of ${RATE} scheduled, ${total.timeouts} timeouts, ${total.s503} 503s, ${total.failures} other failures; ` +
  `flood: ${doc.verdict.trustworthy ? 'TRUSTWORTHY' : 'GENERATOR-BOUND'} (${doc.verdict.text.split('\n')[0]}), peak CPU ${doc.generator.maxCpu.toFixed(2)} cores, ${doc.generator.missedSends} missed sends\n` +
  `(the load average per minute says how much else ran on these 2 cores: above ~2 the figures describe a shared machine)\n`);
