// npm run bench:miss [-- sqlite pg redis] [--quick]: the cold read path, tier by tier, against raw node:http
// servers doing the same single lookup (bench/raw-server.ts), side by side in one run with alternating rounds.
//   sqlite  node:sqlite prepared point read · floodgate --cache-bytes 0 · floodgate with a cold memory tier
//   pg      `pg` and postgres.js (pool of 10, prepared) · floodgate on PostgreSQL --cache-bytes 0 (no Redis) ·
//           the whole stack: cold memory tier + an empty Redis tier + PostgreSQL
//   redis   ioredis HGET, auto-pipelining on and off · floodgate --cache-bytes 0 with Redis holding every id
//           (SQLite behind it) · the whole stack with a cold memory tier
// Every request is a random id of 1..KEYS and every one misses the tiers above the measured one (they are off,
// or cold: the id space is far larger than the share of it asked twice). wrk with 64 keep-alive connections is
// pinned to core 1, the server to core 0; PostgreSQL and redis-server run unpinned. Printed per row: req/s, p50,
// p99, server CPU µs per request (/proc utime + stime of the server's process tree, before/after), and the ratio
// to the fastest raw server of that tier (best round of each row).
// Environment: MISS_KEYS (1,000,000; --quick 50,000), MISS_SECONDS (10; --quick 3), MISS_ROUNDS (2; --quick 1),
// FG_BENCH_DATABASE_URL (postgres://postgres@127.0.0.1:5432/test; a schema <MISS_SCHEMA_PREFIX, fg_miss>_<random>
// is created and dropped), MISS_BEFORE (a directory holding another checkout of floodgate, with its node_modules:
// each tier gets a row "before: floodgate --cache-bytes 0" run from there, so a change is measured against the
// commit before it in the same run), MISS_PG_PIPELINE=1 (a third raw PostgreSQL server: `pg` in pipeline mode).
// Redis is a private redis-server on a free port. The SQLite store is built once under .bench/.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import postgres from 'postgres';
import { EVENT_LOOP_SHEDDING_OFF } from '../src/config.ts';
import { startRedisServer } from '../test/support/redis-server.ts';
import { serve } from '../test/support/serve.ts';
import { cpuSeconds, demoSqliteStore, drive, freePort, hasWrk, pin, spawnPinned, stop, table, waitForHttp, type LoadResult } from './load.ts';

const argv = process.argv.slice(2);
const QUICK = argv.includes('--quick') || process.env.MISS_QUICK === '1';
const SECTIONS = argv.filter((a) => !a.startsWith('--'));
const wanted = (s: string): boolean => SECTIONS.length === 0 || SECTIONS.includes(s);
const KEYS = Number(process.env.MISS_KEYS ?? (QUICK ? 50_000 : 1_000_000));
const SECONDS = Number(process.env.MISS_SECONDS ?? (QUICK ? 3 : 10));
const ROUNDS = Number(process.env.MISS_ROUNDS ?? (QUICK ? 1 : 2));
const CONNECTIONS = 64;
const PG_URL = process.env.FG_BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const SCHEMA_PREFIX = process.env.MISS_SCHEMA_PREFIX ?? 'fg_miss';
const PG_PIPELINE = process.env.MISS_PG_PIPELINE === '1';
const BEFORE = process.env.MISS_BEFORE === undefined || process.env.MISS_BEFORE === '' ? undefined : resolve(process.env.MISS_BEFORE);
const PATH = '/data?user_id=';
const root = resolve(import.meta.dirname, '..');
const node = process.execPath;
const log = (line: string): void => void process.stderr.write(`${line}\n`);
if (!hasWrk) {
  log('bench:miss drives the servers with wrk, which is not on the PATH: install it (apt-get install wrk) and run again.');
  process.exit(2);
}

interface Contender {
  readonly name: string;
  readonly raw: boolean;
  /** Starts the server (pinned to core 0); returns its URL, its pid and how to stop it. */
  start(round: number): Promise<{ url: string; pid: number | undefined; stop: () => Promise<unknown> }>;
}
type Measured = LoadResult & { cpuUsPerReq: number; load: number; repeats: number };

/** The expected share of `n` uniformly random requests over KEYS ids that ask an id asked before (a hit, not a miss). */
function repeatShare(n: number): number {
  return n <= 0 ? 0 : 1 - (KEYS * (1 - Math.exp(-n / KEYS))) / n;
}

function rawServer(name: string, args: string[]): Contender {
  return {
    name, raw: true,
    async start() {
      const port = await freePort();
      const child = spawnPinned(0, node, ['--disable-warning=ExperimentalWarning', 'bench/raw-server.ts', String(port), ...args]);
      child.stderr?.on('data', (d: Buffer) => process.stderr.write(d));
      const url = `http://127.0.0.1:${port}`;
      await waitForHttp(url);
      return { url, pid: child.pid, stop: () => stop(child) };
    },
  };
}

function floodgate(name: string, args: (round: number) => string[], root?: string): Contender {
  return {
    name, raw: false,
    async start(round) {
      // shedding off: each row measures what the path can answer, not how fast it refuses
      const srv = await serve({ args: ['--log-level', 'warn', '--warmup', '0', ...EVENT_LOOP_SHEDDING_OFF, ...args(round)], wrap: pin(0), readyTimeoutMs: 120_000, root });
      return { url: srv.url, pid: srv.pid, stop: () => srv.stop() };
    },
  };
}

async function measure(c: Contender, round: number): Promise<Measured> {
  const s = await c.start(round);
  try {
    const load = { url: s.url, path: PATH, maxId: KEYS, connections: CONNECTIONS };
    const warm = await drive({ ...load, seconds: 1 }); // JIT warm-up
    const cpu0 = cpuSeconds(s.pid) ?? NaN;
    const r = await drive({ ...load, seconds: SECONDS });
    const cpuUsPerReq = (((cpuSeconds(s.pid) ?? NaN) - cpu0) * 1e6) / r.requests;
    const load1 = loadavg()[0] ?? NaN;
    log(`    ${c.name}: ${Math.round(r.rps)} req/s, p50 ${r.p50ms.toFixed(2)} ms, p99 ${r.p99ms.toFixed(2)} ms, errors ${r.errors}, CPU ${cpuUsPerReq.toFixed(1)} µs/req, load avg ${load1.toFixed(2)}`);
    return { ...r, cpuUsPerReq, load: load1, repeats: repeatShare(warm.requests + r.requests) };
  } finally {
    await s.stop();
  }
}

/** Alternating rounds: round r starts at contender r (mod n), so no row always runs first or last. */
async function tier(title: string, contenders: Contender[]): Promise<Record<string, string | number>[]> {
  log(`  ${title}`);
  const best = new Map<string, Measured>();
  for (let round = 0; round < ROUNDS; round++) {
    for (let k = 0; k < contenders.length; k++) {
      const c = contenders[(k + round) % contenders.length] as Contender;
      const m = await measure(c, round);
      const prev = best.get(c.name);
      if (prev === undefined || m.rps > prev.rps) best.set(c.name, m);
    }
  }
  const fastestRaw = contenders.filter((c) => c.raw).map((c) => best.get(c.name) as Measured).reduce((a, b) => (b.rps > a.rps ? b : a));
  return contenders.map((c) => {
    const m = best.get(c.name) as Measured;
    return {
      tier: title, server: c.name, 'req/s': Math.round(m.rps), 'p50 ms': m.p50ms, 'p99 ms': m.p99ms, errors: m.errors,
      'CPU µs/req': m.cpuUsPerReq, 'x fastest raw': (m.rps / fastestRaw.rps).toFixed(2), 'p99 / raw p99': (m.p99ms / fastestRaw.p99ms).toFixed(2),
      'ids asked twice': `${(100 * m.repeats).toFixed(0)} %`,
    };
  });
}

/** The row of the same server run from the MISS_BEFORE checkout, if one was given. */
function before(args: (round: number) => string[]): Contender[] {
  return BEFORE === undefined ? [] : [floodgate('before: floodgate --cache-bytes 0', args, BEFORE)];
}

log(`bench miss: ${KEYS.toLocaleString('en')} keys, random ids, wrk -c${CONNECTIONS} ${SECONDS} s per run, ${ROUNDS} round(s)${QUICK ? ' (--quick)' : ''}; ` +
  `server pinned to core 0, wrk to core 1, PostgreSQL and redis-server unpinned${BEFORE === undefined ? '' : `; 'before:' rows run ${BEFORE}`}`);
if (BEFORE !== undefined && !existsSync(join(BEFORE, 'bin', 'floodgate.js'))) {
  log(`MISS_BEFORE=${BEFORE} holds no floodgate checkout (no bin/floodgate.js): make one with git worktree add or git archive, with its node_modules.`);
  process.exit(2);
}
const rows: Record<string, string | number>[] = [];
const dataDir = wanted('sqlite') || wanted('redis') ? demoSqliteStore(KEYS, log) : '';
if (wanted('sqlite')) {
  rows.push(...await tier('SQLite', [
    rawServer('raw node:sqlite', ['sqlite', join(dataDir, 'floodgate.db')]),
    floodgate('floodgate --cache-bytes 0', () => ['--data-dir', dataDir, '--cache-bytes', '0']),
    ...before(() => ['--data-dir', dataDir, '--cache-bytes', '0']),
    floodgate('floodgate, cold memory tier', () => ['--data-dir', dataDir]),
  ]));
}
// Room for what the run puts in it: a record is about 565 bytes of Redis memory (1,454,499 keys in 821 MB), the
// Redis section fills 1,000,000 of them, twice with MISS_BEFORE (the before build fills its own prefix), and the
// PostgreSQL section's whole-stack rows add theirs. At 1 GB the LRU evicted about a quarter of the Redis section's
// records (the raw servers answered 404s for them, and floodgate's rows read the store).
await using redis = await startRedisServer(['--maxmemory', '3gb', '--maxmemory-policy', 'allkeys-lru']);
if (wanted('pg')) {
  const schema = `${SCHEMA_PREFIX}_${randomBytes(4).toString('hex')}`;
  const admin = postgres(PG_URL, { max: 1, onnotice: () => undefined });
  try {
    log(`  seeding ${KEYS.toLocaleString('en')} demo users into PostgreSQL schema ${schema}…`);
    const r = spawnSync(node, ['--disable-warning=ExperimentalWarning', 'bin/floodgate.js', 'seed', '--seed', String(KEYS), '--database-url', PG_URL, '--db-schema', schema], { cwd: root, stdio: 'inherit', env: { ...process.env, REDIS_URL: '' } });
    if (r.status !== 0) throw new Error('floodgate seed (PostgreSQL) failed');
    const pgArgs = ['--database-url', PG_URL, '--db-schema', schema, '--db-pool', '10'];
    rows.push(...await tier('PostgreSQL', [
      rawServer('raw pg, pool 10', ['pg', PG_URL, schema]),
      rawServer('raw postgres.js, pool 10', ['postgres', PG_URL, schema]),
      ...(PG_PIPELINE ? [rawServer('raw pg pipeline mode, 10 clients', ['pgpipe', PG_URL, schema])] : []),
      floodgate('floodgate --cache-bytes 0', () => [...pgArgs, '--cache-bytes', '0']),
      ...before(() => [...pgArgs, '--cache-bytes', '0']),
      // every id misses the empty Redis tier too (a fresh prefix per round) and is written to it
      floodgate('floodgate, cold memory + cold Redis', (round) => [...pgArgs, '--redis-url', redis.url, '--redis-prefix', `fgmiss-pg-${round}:`]),
    ]));
  } finally {
    await admin.unsafe(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await admin.end({ timeout: 1 });
  }
}
if (wanted('redis')) {
  const prefix = 'fgmiss:';
  // A TTL longer than the whole bench: the fill alone can take minutes on a slow machine, and records that expire
  // mid-run turn the raw servers' reads into 404s and floodgate's into store reads.
  const redisArgs = (p: string): string[] => ['--data-dir', dataDir, '--redis-url', redis.url, '--redis-prefix', p, '--ttl', '2h'];
  /** Fills Redis with every id through a floodgate (sequential reads, memory tier off), in that build's layout. */
  const fill = async (filler: Contender): Promise<void> => {
    log(`  filling Redis with every id through ${filler.name} (sequential reads, memory tier off)…`);
    const s = await filler.start(0);
    try {
      for (let seconds = 5; ; seconds *= 2) {
        if ((await drive({ url: s.url, path: PATH, maxId: KEYS, seconds, connections: CONNECTIONS, sequential: true })).requests >= KEYS) break;
      }
    } finally {
      await s.stop();
    }
  };
  await fill(floodgate('floodgate', () => [...redisArgs(prefix), '--cache-bytes', '0']));
  // The before build fills a prefix of its own: a build with another Redis layout would miss every record of this one.
  const beforePrefix = 'fgmiss-before:';
  for (const b of before(() => [...redisArgs(beforePrefix), '--cache-bytes', '0'])) await fill(b);
  rows.push(...await tier('Redis', [
    rawServer('raw ioredis HGET, auto-pipelining on', ['redis', redis.url, prefix, 'on']),
    rawServer('raw ioredis HGET, auto-pipelining off', ['redis', redis.url, prefix, 'off']),
    floodgate('floodgate --cache-bytes 0 (Redis over SQLite)', () => [...redisArgs(prefix), '--cache-bytes', '0']),
    ...before(() => [...redisArgs(beforePrefix), '--cache-bytes', '0']),
    floodgate('floodgate, cold memory tier', () => redisArgs(prefix)),
  ]));
  const rawErrors = rows.filter((r) => r.tier === 'Redis' && String(r.server).startsWith('raw') && Number(r.errors) > 0);
  if (rawErrors.length > 0) log('  warning: a raw Redis server answered 404s: Redis did not hold every id, so floodgate\'s Redis rows read the store too.');
}
process.stdout.write(`\n${table(rows)}\n\n(best of ${ROUNDS} round(s) per row; 'ids asked twice' is the expected share of a server's requests (warm-up included) ` +
  `that repeat an id, i.e. that a cold memory tier could answer: keep it small (MISS_KEYS much larger than the requests) for a pure miss path; ratios to the fastest raw server of the tier, measured in the same run; ` +
  `the machine may be shared: the load average is printed per run above)\n`);
