// npm run bench:campaign [-- --quick]: a Braze-shaped campaign (floodgate flood --campaign) against floodgate and
// against a raw server on the same data, side by side in one run, each on a fresh process (cold memory tier):
//   floodgate on SQLite                        the whole audience in the store
//   floodgate on PostgreSQL + Redis            the whole audience in Redis
//   the same, --fast-path=false                node:http reads every request (what the fast path is worth)
//   floodgate on PostgreSQL + Redis, half      half of the audience only in PostgreSQL (a fresh Redis prefix,
//                                              filled with the first half, for every run)
//   floodgate on PostgreSQL + Redis, warmed    an empty Redis prefix; `floodgate warm --range 1-N` loads the
//                                              audience into Redis and the memory tier before the send
//   raw node:http + one ioredis HGET           the same Redis data (auto-pipelining on, the faster ioredis setting in bench:miss)
// The campaign: 70,000 recipients in one 10-second burst, 2–3 identical calls each (17,500 calls/s), up to 2,000
// keep-alive connections, a 2 s timeout; then 1.5 × the audience in the same burst (26,250 calls/s), and that
// rate again with 500 connections. Every recipient is a distinct key ({{seq}}). Printed per run: recipients
// personalized, calls refused (503), timeouts, p99 of the answered calls, server CPU µs per answered call (/proc
// utime + stime of its process tree, before/after the send), flood's verdict on itself, and for floodgate the
// store point reads and Redis lookups during the send and floodgate_degraded_total by reason (/metrics).
// The server is pinned to core 0 and flood to core 1; PostgreSQL and redis-server run unpinned.
// Environment: CAMPAIGN_TARGETS / CAMPAIGN_SHAPES ('|'-separated substrings of the server / campaign names: run
// only those, e.g. CAMPAIGN_TARGETS='all in Redis' CAMPAIGN_SHAPES='70,000'), CAMPAIGN_ROUNDS (1: repeat each shape,
// alternating the order), CAMPAIGN_RECIPIENTS (70,000; --quick 7,000), CAMPAIGN_BURST (10s; --quick 4s), FG_BENCH_DATABASE_URL
// (postgres://postgres@127.0.0.1:5432/test; a schema fg_campaign_<random> is created and dropped).
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import postgres from 'postgres';
import { startRedisServer } from '../test/support/redis-server.ts';
import { serve, sumMetric } from '../test/support/serve.ts';
import { cpuSeconds, drive, freePort, pin, spawnPinned, stop, table, waitForHttp } from './load.ts';

const QUICK = process.argv.includes('--quick') || process.env.CAMPAIGN_QUICK === '1';
const RECIPIENTS = Number(process.env.CAMPAIGN_RECIPIENTS ?? (QUICK ? 7_000 : 70_000));
const BURST = process.env.CAMPAIGN_BURST ?? (QUICK ? '4s' : '10s');
const HIGH = Math.round(RECIPIENTS * 1.5);
const KEYS = HIGH;
const PG_URL = process.env.FG_BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const PATH = '/data?user_id=';
const root = resolve(import.meta.dirname, '..');
const node = process.execPath;
const log = (line: string): void => void process.stderr.write(`${line}\n`);

interface Target {
  readonly name: string;
  readonly floodgate: boolean;
  start(recipients: number, run: number): Promise<{ url: string; pid: number | undefined; stop: () => Promise<unknown> }>;
}

interface CampaignDoc {
  summary: { latencyMs: { p99: number } };
  counts: { statuses: Record<string, number>; failures: Record<string, number> };
  campaign: { counts: { personalized: number; partial: number; blank: number }; unhealthy: { tripped: boolean } };
  verdict: { trustworthy: boolean; generatorBoundFrom: number | null; text: string };
}

/** flood --campaign pinned to core 1, with the open-files limit raised; resolves with its JSON result. */
function campaign(url: string, recipients: number, connections: number): Promise<CampaignDoc> {
  const argv = [...pin(1), node, '--disable-warning=ExperimentalWarning', 'bin/floodgate.js', 'flood', `${url}${PATH}{{seq}}`, '--campaign',
    '--recipients', String(recipients), '--burst', BURST, '--calls', '2-3', '--max-connections', String(connections), '--timeout', '2s', '--json', '-'];
  return new Promise((res, rej) => {
    const child = spawn('bash', ['-c', 'ulimit -n "$(ulimit -Hn)"; exec "$@"', 'bash', ...argv], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', rej);
    child.on('exit', (code) => {
      try {
        res(JSON.parse(out) as CampaignDoc);
      } catch {
        rej(new Error(`flood --campaign exited ${code}:\n${err}`));
      }
    });
  });
}

/** floodgate_degraded_total by answer/reason, from a /metrics text. */
async function degraded(url: string): Promise<string> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const parts: string[] = [];
  for (const line of text.split('\n')) {
    const m = /^floodgate_degraded_total\{([^}]*)\} (\d+)/.exec(line);
    if (!m || m[2] === '0') continue;
    const labels = Object.fromEntries([...(m[1] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
    parts.push(`${labels.answer ?? '?'}/${labels.reason ?? '?'} ${m[2]}`);
  }
  return parts.join(', ') || 'none';
}

/** Store point reads and Redis lookups so far (the send's are the difference of two of these). */
async function reads(url: string): Promise<{ store: number; redis: number }> {
  const text = await (await fetch(`${url}/metrics`)).text();
  return { store: sumMetric(text, 'floodgate_store_queries_total', { op: 'get' }), redis: sumMetric(text, 'floodgate_cache_lookups_total', { tier: 'redis' }) };
}

const ADMIN_TOKEN = randomBytes(12).toString('hex');

/** `floodgate warm` of ids 1..n against a running floodgate (the warmed row); logs its summary. */
function warm(url: string, n: number): void {
  const t0 = performance.now();
  const r = spawnSync(node, ['--disable-warning=ExperimentalWarning', 'bin/floodgate.js', 'warm', '--url', url, '--collection', 'default', '--range', `1-${n}`, '--rate', '100000'],
    { cwd: root, encoding: 'utf8', env: { ...process.env, FLOODGATE_ADMIN_TOKEN: ADMIN_TOKEN } });
  if (r.status !== 0) throw new Error(`floodgate warm exited ${r.status}:\n${r.stderr}`);
  log(`      warmed ids 1-${n} in ${((performance.now() - t0) / 1000).toFixed(1)} s: ${(r.stdout.split('\n')[1] ?? '').trim()}`);
}

function floodgateTarget(name: string, args: (recipients: number, run: number) => Promise<string[]>, opts: { warmed?: boolean } = {}): Target {
  return {
    name, floodgate: true,
    async start(recipients, run) {
      const a = await args(recipients, run);
      const srv = await serve({ args: ['--log-level', 'warn', ...a], env: opts.warmed === true ? { FLOODGATE_ADMIN_TOKEN: ADMIN_TOKEN } : {}, wrap: ['bash', '-c', 'ulimit -n "$(ulimit -Hn)"; exec "$@"', 'bash', ...pin(0)], readyTimeoutMs: 120_000 });
      if (opts.warmed === true) warm(srv.url, recipients);
      return { url: srv.url, pid: srv.pid, stop: () => srv.stop() };
    },
  };
}

/**
 * Reads ids 1..n once through a floodgate with the memory tier off: each lands in Redis under `prefix`, for a day
 * (with the default 5-minute TTL the records filled at the start expired during the bench, and the raw server,
 * which has no store behind Redis, answered 404 for them).
 */
async function fillRedis(args: string[], n: number): Promise<void> {
  const srv = await serve({ args: ['--log-level', 'warn', '--cache-bytes', '0', '--ttl', '24h', ...args], readyTimeoutMs: 120_000 });
  try {
    for (let seconds = 3; ; seconds *= 2) {
      if ((await drive({ url: srv.url, path: PATH, maxId: n, seconds, connections: 64, sequential: true })).requests >= n) break;
    }
  } finally {
    await srv.stop();
  }
}

log(`bench campaign: ${RECIPIENTS.toLocaleString('en')} and ${HIGH.toLocaleString('en')} recipients in one ${BURST} burst, 2–3 calls each, ` +
  `2 s timeout, up to 2,000 connections${QUICK ? ' (--quick)' : ''}; server on core 0, flood on core 1`);
const dataDir = join(root, '.bench', `campaign-sqlite-${KEYS}`);
if (!existsSync(join(dataDir, 'floodgate.db'))) {
  mkdirSync(dataDir, { recursive: true });
  log(`  building the ${KEYS}-key SQLite store (once)…`);
  spawnSync(node, ['--disable-warning=ExperimentalWarning', 'bin/floodgate.js', 'seed', '--seed', String(KEYS), '--data-dir', dataDir], { cwd: root, stdio: 'inherit', env: { ...process.env, DATABASE_URL: '' } });
}
const schema = `fg_campaign_${randomBytes(4).toString('hex')}`;
const admin = postgres(PG_URL, { max: 1, onnotice: () => undefined });
const rows: Record<string, string | number>[] = [];
try {
  await using redis = await startRedisServer(['--maxmemory', '1gb', '--maxmemory-policy', 'allkeys-lru']);
  log(`  seeding ${KEYS.toLocaleString('en')} demo users into PostgreSQL schema ${schema}, filling Redis…`);
  const seeded = spawnSync(node, ['--disable-warning=ExperimentalWarning', 'bin/floodgate.js', 'seed', '--seed', String(KEYS), '--database-url', PG_URL, '--db-schema', schema], { cwd: root, stdio: 'inherit', env: { ...process.env, REDIS_URL: '' } });
  if (seeded.status !== 0) throw new Error('floodgate seed (PostgreSQL) failed');
  const pg = ['--database-url', PG_URL, '--db-schema', schema];
  const fullPrefix = 'fgc-full:';
  await fillRedis([...pg, '--redis-url', redis.url, '--redis-prefix', fullPrefix], KEYS);
  const targets: Target[] = [
    floodgateTarget('floodgate, SQLite', async () => ['--data-dir', dataDir]),
    floodgateTarget('floodgate, PostgreSQL + Redis (all in Redis)', async () => [...pg, '--redis-url', redis.url, '--redis-prefix', fullPrefix]),
    // the same server without the fast path (src/http/fast-path.ts): what the lean HTTP/1.1 reader is worth here
    floodgateTarget('floodgate --fast-path=false, PostgreSQL + Redis (all in Redis)', async () => [...pg, '--redis-url', redis.url, '--redis-prefix', fullPrefix, '--fast-path=false']),
    // issue 11: the same campaign with the audience warmed first (floodgate warm: store -> Redis and memory)
    floodgateTarget('floodgate, PostgreSQL + Redis, warmed first', async (_recipients, run) => [...pg, '--redis-url', redis.url, '--redis-prefix', `fgc-warm-${run}:`], { warmed: true }),
    floodgateTarget('floodgate, PostgreSQL + Redis (half only in PostgreSQL)', async (recipients, run) => {
      const prefix = `fgc-half-${run}:`;
      await fillRedis([...pg, '--redis-url', redis.url, '--redis-prefix', prefix], Math.floor(recipients / 2));
      return [...pg, '--redis-url', redis.url, '--redis-prefix', prefix];
    }),
    {
      name: 'raw node:http + ioredis HGET (all in Redis)', floodgate: false,
      async start() {
        const port = await freePort();
        const child = spawnPinned(0, node, ['--disable-warning=ExperimentalWarning', 'bench/raw-server.ts', String(port), 'redis', redis.url, fullPrefix, 'on']);
        const url = `http://127.0.0.1:${port}`;
        await waitForHttp(url);
        return { url, pid: child.pid, stop: () => stop(child) };
      },
    },
  ];
  const only = (names: string | undefined) => (name: string): boolean =>
    names === undefined || names === '' || names.split('|').some((n) => name.includes(n.trim()));
  const chosen = targets.filter((t) => only(process.env.CAMPAIGN_TARGETS)(t.name));
  const rounds = Math.max(1, Number(process.env.CAMPAIGN_ROUNDS ?? 1));
  const allShapes = [
    { label: `${RECIPIENTS.toLocaleString('en')} recipients, 2,000 conns`, recipients: RECIPIENTS, connections: 2000 },
    { label: `1.5 × (${HIGH.toLocaleString('en')}), 2,000 conns`, recipients: HIGH, connections: 2000 },
    { label: `1.5 × (${HIGH.toLocaleString('en')}), 500 conns`, recipients: HIGH, connections: 500 },
  ];
  const shapes = allShapes.filter((s) => only(process.env.CAMPAIGN_SHAPES)(s.label)).flatMap((s) => Array.from({ length: rounds }, () => s));
  if (chosen.length === 0 || shapes.length === 0) throw new Error('CAMPAIGN_TARGETS / CAMPAIGN_SHAPES match no server or campaign');
  let run = 0;
  let pass = 0;
  for (const shape of shapes) {
    // alternate the order per shape (and per round), so no server always goes first
    const order = pass++ % 2 === 0 ? chosen : [...chosen].reverse();
    for (const t of order) {
      const s = await t.start(shape.recipients, run++);
      try {
        const before = t.floodgate ? await reads(s.url) : undefined;
        const cpu0 = cpuSeconds(s.pid) ?? Number.NaN;
        const doc = await campaign(s.url, shape.recipients, shape.connections);
        const calls = Object.values(doc.counts.statuses).reduce((a, b) => a + b, 0);
        const cpuUs = (((cpuSeconds(s.pid) ?? Number.NaN) - cpu0) * 1e6) / Math.max(1, calls);
        const after = t.floodgate ? await reads(s.url) : undefined;
        const k = doc.campaign.counts;
        const total = k.personalized + k.partial + k.blank;
        const timeouts = (doc.counts.failures.timeout ?? 0) + (doc.counts.failures['connect-timeout'] ?? 0);
        const row = {
          campaign: shape.label, server: t.name,
          personalized: `${((100 * k.personalized) / Math.max(1, total)).toFixed(2)} %`,
          'refused (503)': doc.counts.statuses['503'] ?? 0, timeouts, 'p99 ms': doc.summary.latencyMs.p99, 'CPU µs/call': cpuUs.toFixed(1),
          'flood verdict': doc.verdict.trustworthy ? 'trustworthy' : `generator-bound from ${doc.verdict.generatorBoundFrom ?? 0} s`,
          'caller breaker': doc.campaign.unhealthy.tripped ? 'TRIPPED' : 'no',
          'store reads': before && after ? after.store - before.store : '-',
          'Redis reads': before && after ? after.redis - before.redis : '-',
          degraded: t.floodgate ? await degraded(s.url) : '-',
        };
        log(`    ${shape.label} · ${t.name}: ${row.personalized} personalized, ${row['refused (503)']} refused, ${timeouts} timeouts, p99 ${row['p99 ms'].toFixed(1)} ms, CPU ${row['CPU µs/call']} µs a call, ${row['flood verdict']}; degraded: ${row.degraded}`);
        if (!doc.verdict.trustworthy) log(`      ${doc.verdict.text}`);
        rows.push(row);
      } finally {
        await s.stop();
      }
    }
  }
} finally {
  await admin.unsafe(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  await admin.end({ timeout: 1 });
}
process.stdout.write(`\n${table(rows)}\n\n(each run on a fresh server: cold memory tier, except 'warmed first', where floodgate warm loaded ids 1..recipients from PostgreSQL into Redis\n` +
  ` and the memory tier before the send; 'store reads' / 'Redis reads' = point reads of the store and Redis lookups during the send, from /metrics; the machine may be shared, so absolute figures are noisy)\n`);
