// npm run bench:memory: what a memory-tier entry costs, before (lru-cache, an object graph per entry) and after
// (the compact form), each measured in a process of its own with --expose-gc (memory-fill.ts):
// - 1,000,000 demo entries (140-byte bodies): RSS and heap (V8 heap + external) growth per entry, the ratio to
//   the payload, the tier's accounted bytes over the measured RSS growth, hot-path lookups a second;
// - a tier bounded to 256 MiB filled past its bound: the RSS growth against the bound;
// - lru-cache as the compact form's index (string key to slot number): what the index alone would cost;
// - the HTTP hit path against raw node:http, side by side in one run (bench/serve.bench.ts, three rounds unless
//   BENCH_ROUNDS says otherwise; req/s is noisy on a shared machine, CPU per request steadier).
// MEMORY_ENTRIES sets the entry count; MEMORY_SKIP_HTTP=1 skips the HTTP part.
import { spawnSync } from 'node:child_process';
import { table } from './load.ts';

const N = Number(process.env.MEMORY_ENTRIES ?? 1_000_000);
const PAYLOAD = 140;
const BOUND = 256 * 2 ** 20;

interface Fill {
  mode: string;
  entries: number;
  rssBytes: number;
  heapBytes: number;
  jsHeapBytes: number;
  accounted: number;
  lookupsPerSecond: number;
}

function fill(mode: string, n: number, maxBytes = 4 * 2 ** 30): Fill {
  const r = spawnSync(process.execPath, ['--expose-gc', '--disable-warning=ExperimentalWarning', 'bench/memory-fill.ts', mode, String(n), String(maxBytes)], { encoding: 'utf8', maxBuffer: 1 << 20 });
  if (r.status !== 0) throw new Error(`memory-fill ${mode} failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as Fill;
}

process.stderr.write(`bench:memory: ${N.toLocaleString('en')} entries of ${PAYLOAD}-byte bodies, each measurement in its own process\n`);
const legacy = fill('legacy', N);
const compact = fill('compact', N);
const index = fill('lru-index', N);
const bounded = fill('compact', Math.ceil((BOUND / 240) * 1.5), BOUND);
const per = (b: number, n: number): number => Math.round(b / n);
const row = (name: string, f: Fill) => ({
  tier: name,
  'RSS B/entry': per(f.rssBytes, f.entries),
  'heap B/entry': per(f.heapBytes, f.entries),
  'JS heap B/entry': per(f.jsHeapBytes, f.entries),
  'RSS / payload': (f.rssBytes / f.entries / PAYLOAD).toFixed(2),
  'accounted / RSS': f.accounted > 0 ? (f.accounted / f.rssBytes).toFixed(3) : '-',
  'hot lookups/s': f.lookupsPerSecond,
});
process.stdout.write(`\n${table([row('before: lru-cache + objects', legacy), row('after: compact', compact), row('lru-cache index only (key -> slot)', index)])}\n`);
process.stdout.write(
  `\nbounded to 256 MiB, ${bounded.entries.toLocaleString('en')} entries held: RSS growth ${(bounded.rssBytes / 2 ** 20).toFixed(1)} MiB, ` +
    `accounted ${(bounded.accounted / 2 ** 20).toFixed(1)} MiB: RSS growth / bound ${(bounded.rssBytes / BOUND).toFixed(3)} (target 0.85-1.15)\n` +
    `targets: compact RSS / payload <= 2.5 (${(compact.rssBytes / compact.entries / PAYLOAD).toFixed(2)}); accounted / RSS within 0.85-1.15 (${(compact.accounted / compact.rssBytes).toFixed(3)})\n`,
);

if (process.env.MEMORY_SKIP_HTTP !== '1') {
  process.stdout.write('\nHTTP hit path, compact tier, against raw node:http (bench/serve.bench.ts):\n');
  const r = spawnSync(process.execPath, ['bin/run-ts.js', 'bench/serve.bench.ts'], { stdio: ['ignore', 'inherit', 'inherit'], env: { ...process.env, BENCH_ROUNDS: process.env.BENCH_ROUNDS ?? '3' } });
  if (r.status !== 0) process.exitCode = 1;
}
