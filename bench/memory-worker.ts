// The bounded fill of a real worker, for bench:memory: `floodgate serve --workers 1 --cache-bytes N` over a
// SQLite store of KEYS demo users, every id read once in order over HTTP (wrk, 64 connections, pinned to core 1;
// the server to core 0), then READS more random ids (churn past the bound). The worker's RSS (/proc/<pid>/status)
// and its /metrics are read before and after, once the traffic has stopped and the worker is idle.
// Run with --cache-bytes 0 too: that worker served the same traffic with nothing cached, so the difference is
// what the tier costs the process (V8's young generation grows with the traffic, not with the cache: see
// docs/operations.md, "The memory model").
import { readdirSync, readFileSync } from 'node:fs';
import { EVENT_LOOP_SHEDDING_OFF } from '../src/config.ts';
import { metric, serve } from '../test/support/serve.ts';
import { drive, pin } from './load.ts';

export interface WorkerFill {
  cacheBytes: number;
  /** Requests sent in all (the ordered pass and the churn). */
  requests: number;
  errors: number;
  /** Worker RSS once ready, before any traffic; and after the traffic, idle. */
  rssColdBytes: number;
  rssBytes: number;
  entries: number;
  accounted: number;
  evictions: number;
  heapUsedBytes: number;
  /** V8's new space (young generation) committed size after the traffic. */
  newSpaceBytes: number;
}

/** The worker processes of a cluster primary (its children in /proc). */
export function childrenOf(pid: number): number[] {
  const out: number[] = [];
  try {
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      out.push(...readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').split(' ').filter(Boolean).map(Number));
    }
  } catch {
    // gone
  }
  return out;
}

/** VmRSS of a process, bytes (NaN when it is gone). */
export function rssOf(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : NaN;
  } catch {
    return NaN;
  }
}

const PATH = '/data?user_id=';

export async function fillWorker(opts: { dataDir: string; keys: number; cacheBytes: number; reads: number; env?: Record<string, string>; log: (line: string) => void }): Promise<WorkerFill> {
  const srv = await serve({
    args: ['--data-dir', opts.dataDir, '--cache-bytes', String(opts.cacheBytes), '--seed', '0', '--log-level', 'warn', ...EVENT_LOOP_SHEDDING_OFF],
    wrap: pin(0),
    ...(opts.env === undefined ? {} : { env: opts.env }),
    readyTimeoutMs: 120_000,
  });
  try {
    const [worker] = childrenOf(srv.pid);
    if (worker === undefined) throw new Error('no worker process found under the primary');
    await new Promise((r) => setTimeout(r, 1000));
    const rssColdBytes = rssOf(worker);
    const load = { url: srv.url, path: PATH, maxId: opts.keys, connections: 64 };
    let requests = 0;
    let errors = 0;
    const t0 = performance.now();
    while (requests < opts.keys) {
      const r = await drive({ ...load, seconds: 10, sequential: true, start: requests });
      requests += r.requests;
      errors += r.errors;
      opts.log(`    --cache-bytes ${opts.cacheBytes}: ${Math.min(requests, opts.keys).toLocaleString('en')} of ${opts.keys.toLocaleString('en')} ids read (${Math.round(r.rps)} req/s)`);
    }
    const ordered = requests;
    while (requests < ordered + opts.reads) {
      const r = await drive({ ...load, seconds: 10 });
      requests += r.requests;
      errors += r.errors;
    }
    opts.log(`    --cache-bytes ${opts.cacheBytes}: ${requests.toLocaleString('en')} requests in ${((performance.now() - t0) / 1000).toFixed(0)} s, ${errors} errors`);
    await new Promise((r) => setTimeout(r, 3000));
    const rssBytes = rssOf(worker);
    return {
      cacheBytes: opts.cacheBytes,
      requests,
      errors,
      rssColdBytes,
      rssBytes,
      entries: await metric(srv.url, 'floodgate_memory_entries'),
      accounted: await metric(srv.url, 'floodgate_memory_bytes'),
      evictions: await metric(srv.url, 'floodgate_memory_evictions_total'),
      heapUsedBytes: await metric(srv.url, 'floodgate_nodejs_heap_size_used_bytes'),
      newSpaceBytes: await metric(srv.url, 'floodgate_nodejs_heap_space_size_total_bytes', { space: 'new' }),
    };
  } finally {
    await srv.stop();
  }
}
