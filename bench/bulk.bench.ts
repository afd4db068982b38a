// A bulk import beside reads on one worker (the embedded SQLite store, whose writes are synchronous): how long
// a cached hit waits while a POST _bulk of 1,000,000 lines (good ones, then bad ones) runs on the same worker,
// and the worker's peak RSS (VmHWM) for 64 MiB of newlines. One `floodgate serve --workers 1`, a client that
// reads one cached key back to back (one request at a time) for as long as the import runs.
//
// Environment: BENCH_LINES (1000000). Run: node bin/run-ts.js bench/bulk.bench.ts
import { readFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { serve, type Served } from '../test/support/serve.ts';
import { table } from './load.ts';

const LINES = Number(process.env.BENCH_LINES ?? 1_000_000);
const TOKEN = 'bench-admin-token';

function workerPid(primary: number): number {
  const children = readFileSync(`/proc/${primary}/task/${primary}/children`, 'utf8').trim().split(/\s+/).map(Number);
  const pid = children[0];
  if (pid === undefined || !Number.isInteger(pid)) throw new Error(`no worker under ${primary}`);
  return pid;
}

function status(pid: number, field: 'VmHWM' | 'VmRSS'): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : NaN;
}

const agent = new Agent({ keepAlive: true, maxSockets: 1 });
function get(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    request(url, { agent }, (res) => {
      res.resume();
      res.on('end', () => resolve(performance.now() - t0));
    })
      .on('error', reject)
      .end();
  });
}

async function bulk(srv: Served, body: Buffer): Promise<{ status: number; ms: number; text: string }> {
  const t0 = performance.now();
  const res = await fetch(`${srv.url}/v1/content/bench/_bulk`, { method: 'POST', body, headers: { Authorization: `Bearer ${TOKEN}` } });
  const text = await res.text();
  return { status: res.status, ms: performance.now() - t0, text: text.slice(0, 200) };
}

/** Reads a cached key back to back while `work` runs; the latencies of the reads made meanwhile. */
async function readsDuring(url: string, work: Promise<unknown>): Promise<number[]> {
  let done = false;
  void work.finally(() => (done = true));
  const lat: number[] = [];
  while (!done) lat.push(await get(url));
  return lat;
}

function pct(xs: number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] as number;
}

async function main(): Promise<void> {
  const good = Buffer.from(Array.from({ length: LINES }, (_, i) => `{"key":"k${i}","body":"v${i}"}\n`).join(''));
  const bad = Buffer.from('x\n'.repeat(LINES));
  const newlines = Buffer.alloc(64 * 1024 * 1024, 0x0a);
  const rows: Record<string, string | number>[] = [];
  for (const [name, body] of [[`${LINES} good lines`, good], [`${LINES} bad lines`, bad]] as const) {
    await using srv = await serve({ args: ['--workers', '1', '--seed', '10', '--bulk-limit', '256MiB'], env: { FLOODGATE_ADMIN_TOKEN: TOKEN } });
    const hot = `${srv.url}/data?user_id=1`;
    for (let i = 0; i < 200; i++) await get(hot); // cached, warm
    const baseline = [] as number[];
    for (let i = 0; i < 200; i++) baseline.push(await get(hot));
    const job = bulk(srv, body);
    const lat = await readsDuring(hot, job);
    const r = await job;
    rows.push({ import: name, status: r.status, 'import s': (r.ms / 1000).toFixed(2), 'reads during': lat.length, 'hit p50 ms': pct(lat, 50).toFixed(2), 'hit p99 ms': pct(lat, 99).toFixed(2), 'hit max ms': Math.max(...lat).toFixed(1), 'idle hit p99 ms': pct(baseline, 99).toFixed(2) });
  }
  process.stdout.write(`${table(rows)}\n`);
  {
    await using srv = await serve({ args: ['--workers', '1', '--seed', '10'], env: { FLOODGATE_ADMIN_TOKEN: TOKEN } });
    const pid = workerPid(srv.pid);
    const before = status(pid, 'VmHWM');
    const r = await bulk(srv, newlines);
    const after = status(pid, 'VmHWM');
    process.stdout.write(`${table([{ body: '64 MiB of newlines', status: r.status, 'import s': (r.ms / 1000).toFixed(2), 'peak RSS before MiB': (before / 2 ** 20).toFixed(0), 'peak RSS after MiB': (after / 2 ** 20).toFixed(0) }])}\n`);
  }
  agent.destroy();
}

await main();
