// npm run bench:shield [-- --quick]: floodgate shielding an origin, side by side with nginx proxy_cache
// (Debian's nginx: proxy_cache_lock on, proxy_cache_use_stale updating error timeout http_500 http_503,
// proxy_cache_background_update on). The origin (shield-origin.ts, its own process) answers in 50 ms, at most
// 16 at once (beyond: 503), and counts what it receives. Both systems get the same TTL (10 s), one process.
// Three phases, each over the same list of calls (ids shuffled, 2 or 3 calls per id right after one another):
//   cold  open loop at --rate calls/s over ids nobody asked for yet (a campaign's send);
//   warm  the same calls again, closed loop with 32 connections (latency compared here);
//   down  the origin stopped, after one TTL (everything cached is stale), closed loop again.
// Per phase: calls answered with content (200 from the origin's content, not a fallback), fallbacks, 5xx,
// timeouts (> 2 s), p50/p99, origin requests per distinct key, the origin's max concurrency and 503s.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Pool } from 'undici';
import { freePort, stop, table, waitForHttp } from './load.ts';

const quick = process.argv.includes('--quick');
const arg = (name: string, dflt: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? dflt : Number(process.argv[i + 1]);
};
const IDS = arg('ids', quick ? 5_000 : 100_000);
const RATE = arg('rate', 1000);
const TTL_S = 10;
const CAP = 16;
const CLIENT_TIMEOUT_MS = 2000;
const node = process.execPath;
const dir = mkdtempSync(join(tmpdir(), 'fg-bench-shield-'));
chmodSync(dir, 0o777); // nginx's workers (user nobody) write its cache here

// The calls: each id 2 or 3 times in a row, ids shuffled (a seeded generator: every run asks the same).
let seed = 42;
const rnd = (): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
const ids = Array.from({ length: IDS }, (_, i) => String(i + 1));
for (let i = ids.length - 1; i > 0; i--) {
  const j = Math.floor(rnd() * (i + 1));
  [ids[i], ids[j]] = [ids[j] as string, ids[i] as string];
}
const calls: string[] = [];
for (const id of ids) for (let n = rnd() < 0.5 ? 2 : 3; n > 0; n--) calls.push(id);

interface Phase {
  system: string;
  phase: string;
  calls: number;
  content: number;
  fallback: number;
  e5xx: number;
  timeouts: number;
  p50: number;
  p99: number;
  originPerKey: number;
  originMax: number;
  origin503: number;
  cachedServed?: string;
}

function startOrigin(port: number): ChildProcess {
  return spawn(node, ['bin/run-ts.js', 'bench/shield-origin.ts', String(port)], { stdio: 'inherit' });
}

async function originStats(port: number): Promise<{ requests: number; distinct: number; maxInFlight: number; over: number }> {
  const res = await fetch(`http://127.0.0.1:${port}/_stats`);
  return (await res.json()) as { requests: number; distinct: number; maxInFlight: number; over: number };
}

/** Runs the calls against one system: open loop at `rate` (calls/s), or closed loop with `connections`. */
async function run(base: string, mode: { rate: number } | { connections: number }, contentKeys: Set<string>, cachedBefore?: Set<string>) {
  // Open loop: enough connections that no call waits in the client (a campaign's sender does not wait either).
  const pool = new Pool(base, { connections: 'rate' in mode ? 4096 : mode.connections, pipelining: 1 });
  const lat: number[] = [];
  let content = 0, fallback = 0, e5xx = 0, timeouts = 0, cachedCalls = 0, cachedContent = 0;
  const one = async (id: string, t0: number): Promise<void> => {
    let ok = false;
    try {
      const res = await pool.request({ path: `/v1/content/recs/${id}`, method: 'GET', headersTimeout: CLIENT_TIMEOUT_MS, bodyTimeout: CLIENT_TIMEOUT_MS });
      await res.body.dump();
      if (res.statusCode === 200 && res.headers['x-fallback'] === undefined) {
        content++;
        ok = true;
        contentKeys.add(id);
      } else if (res.statusCode === 200) fallback++;
      else if (res.statusCode >= 500) e5xx++;
    } catch {
      timeouts++;
    }
    lat.push(performance.now() - t0);
    if (cachedBefore?.has(id)) {
      cachedCalls++;
      if (ok) cachedContent++;
    }
  };
  if ('rate' in mode) {
    // Open loop: each call starts at its scheduled time whatever the answers before it; latency from that time.
    const start = performance.now();
    const pending: Promise<void>[] = [];
    for (let i = 0; i < calls.length; i++) {
      const at = start + (i * 1000) / mode.rate;
      const wait = at - performance.now();
      if (wait > 1) await new Promise((r) => setTimeout(r, wait));
      pending.push(one(calls[i] as string, at));
    }
    await Promise.all(pending);
  } else {
    let next = 0;
    await Promise.all(Array.from({ length: mode.connections }, async () => {
      while (next < calls.length) {
        const id = calls[next++] as string;
        await one(id, performance.now());
      }
    }));
  }
  await pool.close();
  lat.sort((a, b) => a - b);
  const q = (p: number): number => lat[Math.min(lat.length - 1, Math.floor(p * lat.length))] ?? NaN;
  return { content, fallback, e5xx, timeouts, p50: q(0.5), p99: q(0.99), cachedCalls, cachedContent };
}

async function system(name: string, start: (originPort: number) => Promise<{ url: string; close: () => Promise<void> }>): Promise<Phase[]> {
  const originPort = await freePort();
  let origin = startOrigin(originPort);
  await waitForHttp(`http://127.0.0.1:${originPort}/_stats`);
  await originStats(originPort);
  const sys = await start(originPort);
  const out: Phase[] = [];
  const contentKeys = new Set<string>();
  try {
    for (const phase of ['cold', 'warm', 'down'] as const) {
      let before: Set<string> | undefined;
      if (phase === 'down') {
        await stop(origin);
        await new Promise((r) => setTimeout(r, (TTL_S + 1) * 1000)); // everything cached is now stale
        before = new Set(contentKeys);
      }
      process.stderr.write(`  ${name} ${phase}…\n`);
      const r = await run(sys.url, phase === 'cold' ? { rate: RATE } : { connections: 32 }, contentKeys, before);
      const o = phase === 'down' ? { requests: 0, distinct: 0, maxInFlight: 0, over: 0 } : await originStats(originPort);
      out.push({
        system: name, phase, calls: calls.length, content: r.content, fallback: r.fallback, e5xx: r.e5xx, timeouts: r.timeouts, p50: r.p50, p99: r.p99,
        originPerKey: o.requests / IDS, originMax: o.maxInFlight, origin503: o.over,
        ...(phase === 'down' ? { cachedServed: `${r.cachedContent}/${r.cachedCalls}` } : {}),
      });
    }
  } finally {
    await sys.close();
    if (origin.exitCode === null && origin.signalCode === null) await stop(origin);
    origin = undefined as unknown as ChildProcess;
  }
  return out;
}

async function nginx(originPort: number) {
  if (spawnSync('nginx', ['-v']).error) throw new Error('nginx is not installed: apt-get install -y nginx');
  const port = await freePort();
  const conf = join(dir, 'nginx.conf');
  writeFileSync(conf, `
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  proxy_cache_path ${dir}/cache levels=1:2 keys_zone=shield:64m max_size=1g inactive=60m use_temp_path=off;
  upstream origin { server 127.0.0.1:${originPort}; keepalive 32; }
  server {
    listen 127.0.0.1:${port};
    location ~ ^/v1/content/recs/(.+)$ {
      proxy_pass http://origin/users/$1/recs;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_cache shield;
      proxy_cache_key $uri;
      proxy_cache_valid 200 ${TTL_S}s;
      proxy_cache_valid 404 5s;
      proxy_cache_lock on;
      proxy_cache_use_stale updating error timeout http_500 http_503;
      proxy_cache_background_update on;
      proxy_connect_timeout 1s;
      proxy_read_timeout 1s;
    }
  }
}
`);
  const child = spawn('nginx', ['-p', dir, '-c', conf, '-g', 'daemon off;'], { stdio: 'inherit' });
  await waitForPort(port);
  return { url: `http://127.0.0.1:${port}`, close: () => stop(child) };
}

async function floodgate(originPort: number) {
  const port = await freePort();
  const file = join(dir, 'collections.json');
  writeFileSync(file, JSON.stringify({ collections: { recs: { origin: `http://127.0.0.1:${originPort}/users/{key}/recs`, ttl: `${TTL_S}s`, originTimeout: '800ms', originConcurrency: CAP, fallback: '[]', contentType: 'application/json' } } }));
  const child = spawn(node, ['bin/floodgate.js', 'serve', '--host', '127.0.0.1', '--port', String(port), '--workers', '1', '--seed', '0', '--log-level', 'error', '--data-dir', join(dir, 'data'), '--collections', file], { stdio: 'inherit' });
  await waitForHttp(`http://127.0.0.1:${port}/healthz`);
  return { url: `http://127.0.0.1:${port}`, close: () => stop(child) };
}

async function waitForPort(port: number): Promise<void> {
  for (let i = 0; i < 100; i++) {
    try {
      await fetch(`http://127.0.0.1:${port}/`);
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  throw new Error(`nothing listens on ${port}`);
}

process.stderr.write(`bench:shield: ${IDS} ids, ${calls.length} calls per phase, cold at ${RATE} calls/s, TTL ${TTL_S} s, origin 50 ms / cap ${CAP}\n`);
try {
  const rows = [...(await system('nginx', nginx)), ...(await system('floodgate', floodgate))];
  const pct = (n: number): string => `${((100 * n) / calls.length).toFixed(1)} %`;
  console.log(table(rows.map((r) => ({
    system: r.system, phase: r.phase, calls: r.calls, content: pct(r.content), fallback: pct(r.fallback), '5xx': r.e5xx, timeouts: r.timeouts,
    'p50 ms': r.p50.toFixed(2), 'p99 ms': r.p99.toFixed(2), 'origin req/key': r.originPerKey.toFixed(3), 'origin max conc.': r.originMax, 'origin 503s': r.origin503, 'cached keys served (down)': r.cachedServed ?? '',
  }))));
  const by = (s: string, p: string): Phase => rows.find((r) => r.system === s && r.phase === p) as Phase;
  const fg = (p: string): Phase => by('floodgate', p);
  const ng = (p: string): Phase => by('nginx', p);
  const checks: [string, boolean][] = [
    ['floodgate asks the origin ≤ 1.0 time per distinct key (each phase)', ['cold', 'warm'].every((p) => fg(p).originPerKey <= 1.0)],
    ['floodgate never exceeds the origin\'s cap', ['cold', 'warm'].every((p) => fg(p).originMax <= CAP && fg(p).origin503 === 0)],
    ['floodgate answers with content at least as often as nginx in every phase', ['cold', 'warm', 'down'].every((p) => fg(p).content >= ng(p).content)],
    ['floodgate serves 100 % of the cached keys while the origin is down', (() => { const [a, b] = (fg('down').cachedServed ?? '0/1').split('/'); return a === b; })()],
    ['floodgate warm p99 ≤ nginx warm p99 + 2 ms', fg('warm').p99 <= ng('warm').p99 + 2],
  ];
  for (const [what, ok] of checks) console.log(`${ok ? 'PASS' : 'FAIL'}  ${what}`);
  console.log('(one run on a shared machine: figures move with its load; both systems ran the same calls in turn)');
  process.exitCode = checks.every(([, ok]) => ok) ? 0 : 1;
} finally {
  rmSync(dir, { recursive: true, force: true });
}
