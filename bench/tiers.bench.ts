// The tier progression on PostgreSQL, side by side in one run: store only (caches off), Redis tier (memory
// tier off), memory tier. floodgate serve (1 worker) is pinned to core 0 and wrk to core 1; PostgreSQL and the
// bench's own redis-server run unpinned. Random ids over 100,000 demo users. For each row: requests/s, p50,
// p99, store queries per request (floodgate_store_queries_total before/after) and server CPU per request.
// Then the cross-instance propagation: two instances sharing PostgreSQL and Redis, N trials of a PUT on one
// until a read on the other sees it.
//
// Environment: BENCH_SECONDS (10), BENCH_CONNECTIONS (100), BENCH_ROUNDS (2), BENCH_TRIALS (50),
// FG_BENCH_DATABASE_URL (postgres://postgres@127.0.0.1:5432/test). A schema fg_bench_<random> is created
// and dropped.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { loadavg } from 'node:os';
import postgres from 'postgres';
import { startRedisServer } from '../test/support/redis-server.ts';
import { metric, serve, type Served } from '../test/support/serve.ts';
import { cpuSeconds, drive, pin, table, type LoadResult } from './load.ts';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 100);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2);
const TRIALS = Number(process.env.BENCH_TRIALS ?? 50);
const PG_URL = process.env.FG_BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const USERS = 100_000;
const TOKEN = 'bench-admin-token';
const PATH = '/data?user_id=';

interface Row {
  name: string;
  args: (redisUrl: string) => string[];
  /** Warm-up: ask every id once in sequence (fills a cache tier) before the random runs. */
  fill: boolean;
}

const ROWS: Row[] = [
  { name: 'store only (caches off)', args: () => ['--cache-bytes', '0'], fill: false },
  { name: 'Redis tier (memory off)', args: (r) => ['--cache-bytes', '0', '--redis-url', r], fill: true },
  { name: 'memory tier (+ Redis)', args: (r) => ['--redis-url', r], fill: true },
];

type Measured = LoadResult & { storePerReq: number; cpuUsPerReq: number; pgUsPerReq: number; redisUsPerReq: number; load: number };

const CLOCK_TICKS = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;

/** CPU seconds used so far by every process whose name and command line `match` (from /proc; NaN without it). */
function cpuOf(match: (comm: string, cmdline: string) => boolean): number {
  let total = 0;
  try {
    for (const pid of readdirSync('/proc')) {
      if (!/^\d+$/.test(pid)) continue;
      try {
        const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
        const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
        if (!match(comm, readFileSync(`/proc/${pid}/cmdline`, 'latin1'))) continue;
        const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        total += (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
      } catch {
        // the process ended meanwhile
      }
    }
  } catch {
    return NaN;
  }
  return total;
}
/** Every PostgreSQL process on this machine: whatever else uses the database at the time is counted too. */
const postgresCpu = (): number => cpuOf((comm) => comm === 'postgres');
let redisPort = 0;
const redisCpu = (): number => cpuOf((comm, cmdline) => comm.startsWith('redis-server') && (cmdline.includes(`:${redisPort}`) || cmdline.includes(`--port\0${redisPort}\0`)));

const schema = `fg_bench_${randomBytes(4).toString('hex')}`;
const admin = postgres(PG_URL, { max: 1, onnotice: () => undefined });
const log = (line: string): void => void process.stderr.write(`${line}\n`);

function serverArgs(extra: string[]): string[] {
  // Event-loop shedding off: each row measures what a tier can answer with content, not how fast it refuses.
  return ['--database-url', PG_URL, '--db-schema', schema, '--log-level', 'warn', '--max-event-loop-delay', '0', ...extra];
}

const storeQueries = (srv: Served): Promise<number> => metric(srv.url, 'floodgate_store_queries_total');

async function measure(row: Row, redisUrl: string): Promise<Measured> {
  const srv = await serve({ args: serverArgs(row.args(redisUrl)), wrap: pin(0), env: { FLOODGATE_ADMIN_TOKEN: TOKEN } });
  try {
    const load = { url: srv.url, path: PATH, maxId: USERS, connections: CONNECTIONS };
    // Each wrk run starts its sequence at id 1 again, so the fill is one run long enough to ask every id.
    for (let seconds = 5; row.fill; seconds *= 2) {
      if ((await drive({ ...load, seconds, sequential: true })).requests >= USERS) break;
    }
    await drive({ ...load, seconds: 3 });
    const q0 = await storeQueries(srv);
    const cpu0 = cpuSeconds(srv.pid) ?? NaN;
    const pg0 = postgresCpu();
    const redis0 = redisCpu();
    const r = await drive({ ...load, seconds: SECONDS });
    const perReq = (seconds: number): number => (seconds * 1e6) / r.requests;
    const cpuUsPerReq = perReq((cpuSeconds(srv.pid) ?? NaN) - cpu0);
    const pgUsPerReq = perReq(postgresCpu() - pg0);
    const redisUsPerReq = perReq(redisCpu() - redis0);
    const storePerReq = ((await storeQueries(srv)) - q0) / r.requests;
    // The machine's 1-minute load average: above ~2.5 on two cores, something else competed for the CPU.
    const loadAvg = loadavg()[0] ?? NaN;
    log(`  ${row.name}: ${Math.round(r.rps)} req/s, p50 ${r.p50ms.toFixed(2)} ms, p99 ${r.p99ms.toFixed(2)} ms, errors ${r.errors}, ` +
      `${storePerReq.toFixed(3)} store queries/request, CPU µs/request: server ${cpuUsPerReq.toFixed(1)}, PostgreSQL ${pgUsPerReq.toFixed(1)}, ` +
      `Redis ${redisUsPerReq.toFixed(1)}; load average ${loadAvg.toFixed(2)}`);
    return { ...r, storePerReq, cpuUsPerReq, pgUsPerReq, redisUsPerReq, load: loadAvg };
  } finally {
    await srv.stop();
  }
}

/** One keep-alive request; resolves with status and body. */
function call(agent: Agent, base: string, method: string, path: string, body?: string): Promise<{ status: number; body: string }> {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = body === undefined ? {} : { Authorization: `Bearer ${TOKEN}`, 'Content-Type': 'text/plain', 'Content-Length': String(Buffer.byteLength(body)) };
    const req = request({ host: url.hostname, port: url.port, method, path, agent, headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

/**
 * PUT on one instance while the other is read in a tight loop; the time from sending the PUT (and from its
 * acknowledgement) to the first read on the other instance that answers the new body.
 */
async function propagation(redisUrl: string): Promise<{ sent: number[]; acked: number[] }> {
  const args = serverArgs(['--redis-url', redisUrl, '--seed', '0']);
  await using a = await serve({ args, env: { FLOODGATE_ADMIN_TOKEN: TOKEN } });
  await using b = await serve({ args, env: { FLOODGATE_ADMIN_TOKEN: TOKEN } });
  const agent = new Agent({ keepAlive: true, maxSockets: 4 });
  const sent: number[] = [];
  const acked: number[] = [];
  try {
    for (let i = 0; i < TRIALS; i++) {
      const [from, to] = i % 2 === 0 ? [a, b] : [b, a];
      const path = `/v1/content/bench/prop-${i}`;
      await call(agent, from.url, 'PUT', path, 'old');
      // The other instance holds the old content in memory before the write.
      while ((await call(agent, to.url, 'GET', path)).body !== 'old') await new Promise((r) => setTimeout(r, 1));
      await call(agent, to.url, 'GET', path);
      const t0 = performance.now();
      let ackAt = NaN;
      const write = call(agent, from.url, 'PUT', path, 'new').then((r) => {
        ackAt = performance.now();
        if (r.status !== 200) throw new Error(`PUT answered ${r.status}: ${r.body}`);
      });
      for (;;) {
        const r = await call(agent, to.url, 'GET', path);
        if (r.body === 'new') break;
        if (performance.now() - t0 > 5000) throw new Error('a write was not visible on the other instance within 5 s');
      }
      const seen = performance.now();
      await write;
      sent.push(seen - t0);
      acked.push(Math.max(0, seen - ackAt));
    }
  } finally {
    agent.destroy();
  }
  return { sent, acked };
}

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((x, y) => x - y);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
}

log(`bench tiers: PostgreSQL ${new URL(PG_URL).host} (schema ${schema}), ${SECONDS}s per run, ${CONNECTIONS} connections, ${ROUNDS} round(s), random ids 1..${USERS}`);
log('  floodgate serve (1 worker) pinned to core 0, load generator to core 1; PostgreSQL and redis-server unpinned (they share both cores)');
const results = new Map<string, Measured[]>(ROWS.map((r) => [r.name, []]));
let prop: { sent: number[]; acked: number[] } | undefined;
try {
  await using redis = await startRedisServer(['--maxmemory', '512mb', '--maxmemory-policy', 'allkeys-lru']);
  redisPort = redis.port;
  log(`  seeding ${USERS} demo users…`);
  const seeder = await serve({ args: serverArgs(['--seed', String(USERS)]), readyTimeoutMs: 300_000 });
  await seeder.stop();
  for (let round = 0; round < ROUNDS; round++) {
    for (const row of ROWS) results.get(row.name)?.push(await measure(row, redis.url));
  }
  log(`  propagation: ${TRIALS} trials…`);
  prop = await propagation(redis.url);
} finally {
  await admin.unsafe(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  await admin.end({ timeout: 1 });
}

const best = (name: string): Measured => {
  const rs = results.get(name) ?? [];
  return rs.reduce((x, y) => (y.rps > x.rps ? y : x));
};
const [store, redisRow, memory] = ROWS.map((r) => best(r.name)) as [Measured, Measured, Measured];
const rows = ROWS.map((r) => {
  const m = best(r.name);
  return {
    tier: r.name, 'req/s': Math.round(m.rps), 'p50 ms': m.p50ms, 'p99 ms': m.p99ms, errors: m.errors,
    'store q/req': m.storePerReq.toFixed(3), 'CPU µs/req server': m.cpuUsPerReq, 'PostgreSQL': m.pgUsPerReq, Redis: m.redisUsPerReq, 'load avg': m.load, 'x store': `${(m.rps / store.rps).toFixed(1)}x`,
  };
});
const verdict = (ratio: number, target: number): string => `${ratio.toFixed(1)}x (target >= ${target}x: ${ratio >= target ? 'met' : 'NOT MET'})`;
const memRatio = memory.rps / store.rps;
const redisRatio = redisRow.rps / store.rps;
process.stdout.write(
  `\n${table(rows)}\n\n` +
    `memory tier / store only: ${verdict(memRatio, 10)}\n` +
    `Redis tier / store only:  ${verdict(redisRatio, 3)}\n` +
    `(best of ${ROUNDS} round(s) per row, ${store.tool}; PostgreSQL and Redis unpinned, sharing the two cores with server and load)\n`,
);
if (prop) {
  const f = (xs: number[]): string => `median ${pct(xs, 50).toFixed(1)} ms, p90 ${pct(xs, 90).toFixed(1)} ms, max ${Math.max(...xs).toFixed(1)} ms`;
  process.stdout.write(
    `\ncross-instance propagation, ${TRIALS} trials (PUT on one instance, tight read loop on the other):\n` +
      `  PUT sent → visible on the other: ${f(prop.sent)}\n` +
      `  PUT acknowledged → visible:      ${f(prop.acked)}\n`,
  );
}
if (memRatio < 10 || redisRatio < 3) process.exitCode = 1;
