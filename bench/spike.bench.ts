// npm run bench:spike [-- spike conns tls]: floodgate under the reference posts' failure modes, on one machine.
//   spike  before each run, capacity on a cold cache over 1,000,000 keys (wrk, closed loop); then on a fresh cold server
//          (a) idle → 80 % of capacity within 1 s for 30 s (floodgate flood, open model, up to 10,000 connections)
//          (b) 2 × capacity for 30 s, then 10 s at 30 %: is the server responsive the second the overload stops?
//   conns  2,000 and 10,000 keep-alive connections on cached content (wrk, random ids), raw node:http alongside
//   tls    plain HTTP, HTTPS keep-alive, HTTPS with a new connection per request (floodgate flood)
//   overload  (not in the default set) the server's CPU capped by a cgroup (v1 cpu controller, 10 ms period,
//          SPIKE_CPU_QUOTA_US of it, default 4000 = 40 % of a core), so one generator core can offer it twice what
//          it can take. Capacity is measured in the same run by an open-loop ramp at the runs' own connection
//          count (2,000; shedding off: what it answers with content). Then, on fresh cold capped servers:
//          (a) 2 × capacity for 30 s: timeouts, answers over the deadline, refusals;
//          (b) 2 × capacity for 60 s, then 10 s at 30 %: the error share of that minute as Braze counts it (its
//              breaker trips over 90 %), and the answered p99 once the overload stops; once more with a fallback
//              body configured (every answer should be a 200);
//          anchors at the same 2 × capacity for 30 s: floodgate refusing every miss, and the floor of refusing (a
//              node:net server writing one canned 503 a read): whether any server could answer it in time by
//              refusing (SPIKE_ANCHORS=0 skips them).
// The server is pinned to core 0 and the load generator to core 1; children get the hard open-files limit.
// The 1,000,000-key store is built once under .bench/ and reused.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { readdirSync, rmdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { EVENT_LOOP_SHEDDING_OFF } from '../src/config.ts';
import { judgeUnhealthy, isCallerFailureStatus } from '../src/flood/campaign/unhealthy.ts';
import { decodeHistogram } from '../src/flood/histogram.ts';
import { connect } from 'node:net';
import { freePort, hasWrk, pin, stop, table, waitForHttp } from './load.ts';
import { sumMetric } from '../test/support/serve.ts';

const SECTIONS = process.argv.slice(2).length > 0 ? process.argv.slice(2) : ['spike', 'conns', 'tls'];
const CPU_QUOTA_US = Number(process.env.SPIKE_CPU_QUOTA_US ?? 4000);
const KEYS = Number(process.env.SPIKE_KEYS ?? 1_000_000);
const SECONDS = Number(process.env.SPIKE_SECONDS ?? 30);
const node = process.execPath;
const root = resolve(import.meta.dirname, '..');
const work = join(root, '.bench');
const dataDir = join(work, `spike-${KEYS}`);
mkdirSync(work, { recursive: true });
if (!hasWrk) {
  process.stderr.write('bench:spike measures capacity and the connection tests with wrk, which is not on the PATH: install it (Debian/Ubuntu: apt-get install wrk) and run again.\n');
  process.exit(2);
}

/** Runs argv with the open-files soft limit raised to the hard limit; resolves with stdout. */
function run(argv: string[], core: number): Promise<string> {
  return new Promise((res, rej) => {
    const child = spawn('bash', ['-c', 'ulimit -n "$(ulimit -Hn)"; exec "$@"', 'bash', ...pin(core), ...argv], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', rej);
    child.on('exit', (code) => (code === 0 || code === 1 ? res(out) : rej(new Error(`${argv.join(' ')} exited ${code}:\n${out}`))));
  });
}

interface Srv { url: string; port: number; child: ReturnType<typeof spawn> }

/** Spawns a server's argv pinned to core 0 with the hard open-files limit, in the cgroup (when given) from its first instruction. */
function spawnServer(argv: string[], cgroup: string | undefined, env: NodeJS.ProcessEnv): ReturnType<typeof spawn> {
  const child = spawn('bash', ['-c', 'ulimit -n "$(ulimit -Hn)"; exec "$@"', 'bash', ...pin(0), ...argv], { cwd: root, stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, ...env } });
  // bash joins the group before it execs the server, so workers inherit it.
  if (cgroup !== undefined && child.pid !== undefined) writeFileSync(join(cgroup, 'cgroup.procs'), String(child.pid));
  return child;
}

async function startServer(args: string[], cgroup?: string): Promise<Srv> {
  const port = await freePort();
  const child = spawnServer([node, '--disable-warning=ExperimentalWarning', 'bin/floodgate.js', 'serve', '--workers', '1', '--port', String(port), '--host', '127.0.0.1', '--log-level', 'warn', ...args], cgroup, { DATABASE_URL: '', REDIS_URL: '' });
  const url = `${args.includes('--tls-self-signed') ? 'https' : 'http'}://127.0.0.1:${port}`;
  // The primary listens once every worker is ready (seeding a large store first can take minutes).
  for (const until = Date.now() + 900_000; ; ) {
    const open = await new Promise<boolean>((r) => connect(port, '127.0.0.1').once('connect', function (this: ReturnType<typeof connect>) { this.destroy(); r(true); }).once('error', () => r(false)));
    if (open) break;
    if (Date.now() > until || child.exitCode !== null) throw new Error(`floodgate serve ${args.join(' ')} did not start`);
    await new Promise((r) => setTimeout(r, 200));
  }
  return { url, port, child };
}

/** bench/raw-server.ts in `mode`, as spawnServer starts it. */
async function startRaw(mode: string[], cgroup?: string, env: NodeJS.ProcessEnv = {}): Promise<Srv> {
  const port = await freePort();
  const child = spawnServer([node, '--disable-warning=ExperimentalWarning', 'bench/raw-server.ts', String(port), ...mode], cgroup, env);
  const url = `http://127.0.0.1:${port}`;
  await waitForHttp(url);
  return { url, port, child };
}

/** Resident memory of a process tree, bytes. */
function rss(pid: number | undefined): number {
  if (pid === undefined) return 0;
  try {
    let total = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) * 1024;
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      for (const c of readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').split(' ').filter(Boolean)) total += rss(Number(c));
    }
    return total;
  } catch {
    return 0;
  }
}
function watchRss(pid: number | undefined): () => number {
  let peak = 0;
  const t = setInterval(() => (peak = Math.max(peak, rss(pid))), 200);
  return () => {
    clearInterval(t);
    return peak;
  };
}

/** The server's own view: the bucket bound under which p% of /data requests were answered (parse to last byte). */
async function serverPercentile(url: string, p: number): Promise<string> {
  const text = await (await fetch(`${url}/metrics`)).text();
  // Summed over the method and collection labels (GET and HEAD of the default collection).
  const byLe = new Map<number, number>();
  for (const line of text.split('\n')) {
    const m = /^floodgate_http_request_duration_seconds_bucket\{le="([^"]+)",route="data"[,}].* (\d+)$/.exec(line);
    if (m) {
      const le = m[1] === '+Inf' ? Infinity : Number(m[1]);
      byLe.set(le, (byLe.get(le) ?? 0) + Number(m[2]));
    }
  }
  const buckets = [...byLe].sort((a, b) => a[0] - b[0]);
  const total = buckets.at(-1)?.[1] ?? 0;
  const hit = buckets.find(([, n]) => n >= (p / 100) * total);
  return hit === undefined || total === 0 ? '-' : `≤${hit[0] * 1000}`;
}

/** A metric of the server's /metrics summed over the series with these labels (test/support/serve.ts sumMetric). */
async function metricSum(url: string, name: string, labels: Readonly<Record<string, string>> = {}): Promise<number> {
  return sumMetric(await (await fetch(`${url}/metrics`)).text(), name, labels);
}

// --- floodgate flood ------------------------------------------------------------------------------------
interface FloodJson {
  counts: { sent: number; responses: number; statuses: Record<string, number>; failures: Record<string, number> };
  histograms: { success: string | null };
  timeline: { second: number; counts: { statuses: Record<string, number>; failures: Record<string, number> }; histograms: { success: string | null } }[];
  generator: { maxCpu: number };
  verdict: { trustworthy: boolean; boundSeconds: number; totalSeconds: number };
}
let floods = 0;
async function flood(url: string, args: string[]): Promise<FloodJson> {
  const file = join(work, `flood-${++floods}.json`); // kept for a closer look (floodgate flood merge --html)
  await run([node, '--disable-warning=ExperimentalWarning', 'bin/floodgate.js', 'flood', url, '--json', file, ...args], 1);
  const doc = JSON.parse(readFileSync(file, 'utf8')) as FloodJson;
  return doc;
}
/** Latency (ms) of the successful responses of seconds [from, to) of a run, merged exactly. */
function latency(doc: FloodJson, from = 0, to = Infinity): { p50: number; p99: number; max: number; over: (ms: number) => number } {
  const h = decodeHistogram(null);
  for (const s of doc.timeline) if (s.second >= from && s.second < to && s.histograms.success) h.add(decodeHistogram(s.histograms.success));
  const ms = (us: number): number => us / 1000;
  return {
    p50: ms(h.getValueAtPercentile(50)),
    p99: ms(h.getValueAtPercentile(99)),
    max: ms(h.maxValue),
    over: (limit) => {
      if (h.maxValue <= limit * 1000) return 0;
      let lo = 0;
      let hi = 100;
      for (let i = 0; i < 50; i++) {
        const mid = (lo + hi) / 2;
        if (h.getValueAtPercentile(mid) > limit * 1000) hi = mid;
        else lo = mid;
      }
      return Math.max(1, Math.round(((100 - hi) / 100) * h.totalCount));
    },
  };
}
function tally(doc: FloodJson, from = 0, to = Infinity) {
  let errors = 0;
  let timeouts = 0;
  let s5xx = 0;
  let answered = 0;
  for (const s of doc.timeline) {
    if (s.second < from || s.second >= to) continue;
    for (const [k, n] of Object.entries(s.counts.failures)) {
      if (k === 'timeout' || k === 'connect-timeout') timeouts += n;
      else errors += n;
    }
    for (const [code, n] of Object.entries(s.counts.statuses)) {
      answered += n;
      if (code.startsWith('5')) s5xx += n;
    }
  }
  return { answered, errors, timeouts, s5xx };
}

// --- wrk --------------------------------------------------------------------------------------------------
const WRK_LUA = (maxId: number, deadlineUs: number): string => `
math.randomseed(os.time())
request = function() return wrk.format("GET", "/data?user_id=" .. math.random(1, ${maxId})) end
done = function(summary, latency, requests)
  local over = 0
  if latency.max > ${deadlineUs} then
    local lo, hi = 0, 100
    for _ = 1, 40 do local mid = (lo + hi) / 2; if latency:percentile(mid) > ${deadlineUs} then hi = mid else lo = mid end end
    over = math.floor((100 - hi) / 100 * summary.requests + 0.5)
  end
  local e = summary.errors
  io.write(string.format("RESULT %d %d %d %d %d %d %d %.3f %.3f %.3f\\n", summary.requests, summary.duration, e.connect, e.read + e.write, e.timeout, e.status, over, latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000))
end
`;
async function wrk(url: string, connections: number, seconds: number, maxId: number) {
  const script = join(work, 'spike-wrk.lua');
  writeFileSync(script, WRK_LUA(maxId, 1_000_000));
  const out = await run(['wrk', '-t1', `-c${connections}`, `-d${seconds}s`, '--timeout', '2s', '-s', script, url], 1);
  const m = /RESULT (.*)/.exec(out)?.[1]?.split(' ').map(Number) ?? [];
  const [requests = 0, durUs = 1, connect = 0, rw = 0, timeouts = 0, non2xx = 0, over = 0, p50 = 0, p99 = 0, max = 0] = m;
  return { requests, rps: requests / (durUs / 1e6), connect, rw, timeouts, non2xx, over, p50, p99, max };
}

async function ensureStore(): Promise<void> {
  if (existsSync(join(dataDir, 'floodgate.db'))) return;
  process.stderr.write(`building the ${KEYS}-key store in ${dataDir} (once)...\n`);
  const s = await startServer(['--data-dir', dataDir, '--seed', String(KEYS)]);
  await stop(s.child);
}

const out: string[] = [];
const say = (text: string): void => {
  process.stderr.write(`${text}\n`);
  out.push(text);
};

if (SECTIONS.includes('spike')) {
  await ensureStore();
  const extra = (process.env.SPIKE_SERVER_ARGS ?? '').split(' ').filter(Boolean);
  const cold = (more: string[] = []): Promise<Srv> => startServer(['--data-dir', dataDir, '--seed', '0', ...more, ...extra]);
  // Capacity: closed loop on a cold cache, the same random ids as the spike, with shedding off: what the
  // server can answer with content (with shedding on, wrk would count fast 503s as capacity). Measured again
  // right before each spike run: this machine's speed drifts by up to 2× within minutes (cold capacity read
  // between 3,451 and 14,648 req/s in one session), and a rate derived from an earlier reading tests the drift.
  const given = Number(process.env.SPIKE_CAPACITY ?? 0);
  const measureCapacity = async (): Promise<number> => {
    if (given > 0) {
      say(`capacity (given): ${given} req/s`);
      return given;
    }
    const srv = await cold([...EVENT_LOOP_SHEDDING_OFF]);
    const cap = await wrk(srv.url, 256, 10, KEYS);
    await stop(srv.child);
    say(`capacity (cold cache over ${KEYS} keys, wrk -c256, 10 s): ${Math.round(cap.rps)} req/s, p99 ${cap.p99.toFixed(1)} ms`);
    return Math.round(cap.rps);
  };
  const runs = (process.env.SPIKE_RUNS ?? 'a,b').split(',');

  const rows: Record<string, string | number>[] = [];
  const spike = async (name: string, stages: string[], warmFrom: number, after?: number) => {
    const s = await cold();
    const peak = watchRss(s.child.pid);
    const doc = await flood(`${s.url}/data?user_id={{int 1 ${KEYS}}}`, [...stages, '-c', '10000', '--timeout', '2s', '--ok', '200-599']);
    const peakRss = peak();
    const reads = await metricSum(s.url, 'floodgate_store_queries_total', { op: 'get' });
    const coalesced = await metricSum(s.url, 'floodgate_cache_lookups_total', { tier: 'memory', outcome: 'coalesced' });
    const degraded = await metricSum(s.url, 'floodgate_degraded_total');
    const serverP99 = await serverPercentile(s.url, 99);
    await stop(s.child);
    const end = after ?? Infinity;
    const t = tally(doc, 0, end);
    const all = latency(doc, 0, end);
    const warm = latency(doc, warmFrom, end);
    rows.push({
      run: name, sent: doc.counts.sent, answered: t.answered, 'conn errors': t.errors, timeouts: t.timeouts, '503s': t.s5xx,
      degraded, 'p50 ms': all.p50, 'p99 ms': all.p99, 'max ms': all.max, [`p99 from ${warmFrom}s`]: warm.p99, '>1s': all.over(1000),
      'server p99 ms': serverP99,
      // Requests that went to the tiers drew uniform random ids: expect K·(1 − (1 − 1/K)^n) distinct keys among n.
      'store reads/key': reads / Math.max(1, KEYS * (1 - (1 - 1 / KEYS) ** Math.max(0, t.answered - degraded))),
      coalesced, 'peak RSS MiB': Math.round(peakRss / 2 ** 20),
      'flood bound s': `${doc.verdict.boundSeconds}/${doc.verdict.totalSeconds}`,
    });
    if (after !== undefined) {
      const t2 = tally(doc, after, after + 1);
      const l2 = latency(doc, after, after + 1);
      say(`${name}: the second after the overload: ${t2.answered} answered, ${t2.s5xx} 503s, ${t2.errors + t2.timeouts} errors, p99 ${l2.p99.toFixed(1)} ms, max ${l2.max.toFixed(1)} ms`);
    }
  };
  if (runs.includes('a')) {
    const a = Math.round(0.8 * (await measureCapacity()));
    await spike(`(a) 0→${a}/s in 1 s, ${SECONDS} s`, ['--stage', `1s:0-${a}`, '--stage', `${SECONDS - 1}s:${a}`], 10);
  }
  if (runs.includes('b')) {
    const capacity = await measureCapacity();
    await spike(`(b) ${2 * capacity}/s for ${SECONDS} s`, ['--stage', `${SECONDS}s:${2 * capacity}`, '--stage', `10s:${Math.round(0.3 * capacity)}`], 10, SECONDS);
  }
  say(
    `\nspike (latency from each request's schedule, as flood corrects it; server p99 = the server's own histogram bucket, parse to last byte;\n` +
      ` store reads/key = store reads / the distinct keys expected among the requests not shed (uniform ids);
 coalesced = requests that waited on another request's load of the same key (single-flight); degraded = stale + fallback + 503 answers counted by the server;\n` +
      ` flood bound s = seconds in which flood's verdict says the generator, not the server, was the bottleneck)\n${table(rows)}\n`,
  );
}

if (SECTIONS.includes('conns')) {
  const users = 100_000;
  const dir = join(work, 'conns-data');
  const rows: Record<string, string | number>[] = [];
  const measure = async (name: string, start: () => Promise<Srv>) => {
    const srv = await start();
    await wrk(srv.url, 100, 5, users); // warm: the memory tier holds every id by the end
    for (const c of [2000, 10_000]) {
      const r = await wrk(srv.url, c, 30, users);
      rows.push({ server: name, connections: c, 'req/s': Math.round(r.rps), 'p50 ms': r.p50, 'p99 ms': r.p99, 'max ms': r.max, '>1s (deadline)': r.over, 'timeouts (>2s)': r.timeouts, 'conn errors': r.connect + r.rw, non2xx: r.non2xx });
    }
    await stop(srv.child);
  };
  await measure('floodgate serve', async () => {
    const srv = await startServer(['--data-dir', dir, '--seed', String(users)]);
    // Warm every id, in sequence.
    await run([node, '--disable-warning=ExperimentalWarning', 'bin/floodgate.js', 'flood', `${srv.url}/data?user_id={{seq}}`, '-c', '100', '-n', String(users)], 1);
    return srv;
  });
  await measure('raw node:http + Map', async () => {
    const port = await freePort();
    const child = spawn('bash', ['-c', 'ulimit -n "$(ulimit -Hn)"; exec "$@"', 'bash', ...pin(0), node, '--disable-warning=ExperimentalWarning', 'bench/raw-server.ts', String(port), String(users)], { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] });
    await waitForHttp(`http://127.0.0.1:${port}/healthz`);
    return { url: `http://127.0.0.1:${port}`, port, child };
  });
  say(`\nmany connections (wrk, keep-alive, random ids over ${users} cached keys, 30 s each)\n${table(rows)}\n`);
}

if (SECTIONS.includes('tls')) {
  const dir = join(work, 'conns-data');
  const rows: Record<string, string | number>[] = [];
  const one = async (name: string, srv: Srv, extra: string[]) => {
    const doc = await flood(`${srv.url}/data?user_id={{int 1 100000}}`, ['-c', '50', '-d', '10s', ...extra]);
    const t = tally(doc);
    const l = latency(doc);
    rows.push({ protocol: name, 'req/s': Math.round(t.answered / 10), 'p50 ms': l.p50, 'p99 ms': l.p99, 'max ms': l.max, 'error rate %': (100 * (t.errors + t.timeouts + t.s5xx)) / Math.max(1, t.answered + t.errors + t.timeouts) });
  };
  const plain = await startServer(['--data-dir', dir, '--seed', '100000']);
  await run([node, '--disable-warning=ExperimentalWarning', 'bin/floodgate.js', 'flood', `${plain.url}/data?user_id={{seq}}`, '-c', '100', '-n', '100000'], 1);
  await one('HTTP, keep-alive', plain, []);
  await one('HTTP, new connection per request', plain, ['--new-connection']);
  await stop(plain.child);
  const tls = await startServer(['--data-dir', dir, '--seed', '100000', '--tls-self-signed']);
  const https = tls;
  await run([node, '--disable-warning=ExperimentalWarning', 'bin/floodgate.js', 'flood', `${https.url}/data?user_id={{seq}}`, '-k', '-c', '100', '-n', '100000'], 1);
  await one('HTTPS, keep-alive', https, ['-k']);
  await one('HTTPS, new connection per request', https, ['-k', '--new-connection']);
  await stop(tls.child);
  say(`\nprotocols (floodgate flood, 50 connections, 10 s, cached content)\n${table(rows)}\n`);
}

if (SECTIONS.includes('overload')) {
  await ensureStore();
  const group = `/sys/fs/cgroup/cpu/floodgate-spike-${process.pid}`;
  try {
    mkdirSync(group);
    writeFileSync(join(group, 'cpu.cfs_period_us'), '10000');
    writeFileSync(join(group, 'cpu.cfs_quota_us'), String(CPU_QUOTA_US));
  } catch (err) {
    say(`overload: cannot make the cgroup ${group} (${(err as Error).message}). It needs the cgroup v1 cpu controller and root; skipped.`);
  }
  if (existsSync(join(group, 'cpu.cfs_quota_us'))) {
    const CONNS = 2000;
    const DEADLINE_MS = 1000;
    const target = `/data?user_id={{int 1 ${KEYS}}}`;
    const fallbackFile = join(work, 'overload-collections.json');
    writeFileSync(fallbackFile, JSON.stringify({ collections: { default: { fallback: '{"personalized":false}', fallbackContentType: 'application/json' } } }));
    // Callers open their connections in a burst: many listening sockets, so that the capped loop accepts them
    // (docs/design-notes.md, "Accepting a burst of connections"); SPIKE_OVERLOAD_ARGS='' measures the default.
    const overloadArgs = (process.env.SPIKE_OVERLOAD_ARGS ?? '--listen-sockets 2048').split(' ').filter(Boolean);
    const capped = (more: string[] = []): Promise<Srv> => startServer(['--data-dir', dataDir, '--seed', '0', ...overloadArgs, ...more], group);
    const floodArgs = ['-c', String(CONNS), '--timeout', '2s', '--ok', '200-599'];
    const perSecond = (doc: FloodJson, status: string): number[] => doc.timeline.map((x) => x.counts.statuses[status] ?? 0);
    const rows: Record<string, string | number>[] = [];
    try {
      // capacity: an open-loop ramp, shedding off, the best second of 200s
      const ramp = Number(process.env.SPIKE_RAMP_MAX ?? 30_000);
      let srv = await capped([...EVENT_LOOP_SHEDDING_OFF]);
      const rampDoc = await flood(`${srv.url}${target}`, ['--stage', `20s:0-${ramp}`, ...floodArgs]);
      await stop(srv.child);
      const capacity = Math.max(...perSecond(rampDoc, '200'));
      say(`overload: capacity of the capped server (${CPU_QUOTA_US / 100} % of a core; open-loop ramp 0→${ramp}/s over 20 s, ${CONNS} connections, shedding off; the best second of 200s): ${capacity} req/s; flood bound ${rampDoc.verdict.boundSeconds}/${rampDoc.verdict.totalSeconds} s`);
      // The ceiling of answering by refusing: a raw node:http server that answers every request 503 (a small
      // JSON body, nothing looked up) under the same cap, the same ramp and the same listening sockets. When it
      // tops out under 2 × capacity, no server can answer (a)'s every call in time by refusing the excess alone.
      const socketsArg = overloadArgs.indexOf('--listen-sockets');
      const rawSockets = socketsArg === -1 ? '2048' : (overloadArgs[socketsArg + 1] ?? '1');
      /** The best second of 503s a server under the same cap gives on the same ramp: the row of that ceiling. */
      const ceiling = async (name: string, how: string, start: () => Promise<Srv>): Promise<Record<string, string | number>> => {
        const s = await start();
        const doc = await flood(`${s.url}${target}`, ['--stage', `20s:0-${ramp}`, ...floodArgs]);
        await stop(s.child);
        const best = Math.max(...perSecond(doc, '503'));
        const share = (best / (2 * capacity)).toFixed(2);
        say(`overload: ${name} under the same cap (${how}, same ramp): ${best} answers/s, ${share} × the ${2 * capacity}/s that (a) and (b) offer; flood bound ${doc.verdict.boundSeconds}/${doc.verdict.totalSeconds} s`);
        return { run: `ceiling: ${name} (best second ${best}/s = ${share} × offered)`, 'offered/s': `ramp 0-${ramp}`, sent: doc.counts.sent, timeouts: tally(doc, 0, 20).timeouts };
      };
      const ceilingRow = await ceiling('raw node:http, constant 503', `${rawSockets} listening sockets`, () => startRaw(['refuse'], group, { RAW_LISTEN_SOCKETS: rawSockets }));
      // floodgate's own refusal under the same cap: every miss answered 503 at once (--max-rss 1 puts the memory
      // watermark under any process). Answering 2 × capacity within the deadline needs a refusal to cost under
      // half a miss: this row says whether floodgate's does.
      const fgCeilingRow = await ceiling('floodgate refusing every miss', '--max-rss 1', () => capped(['--max-rss', '1']));
      // `start` is floodgate with extra arguments, or (a function) an anchor server without /metrics
      const over = async (name: string, seconds: number, start: string[] | (() => Promise<Srv>)): Promise<void> => {
        srv = Array.isArray(start) ? await capped(start) : await start();
        const doc = await flood(`${srv.url}${target}`, ['--stage', `${seconds}s:${2 * capacity}`, '--stage', `10s:${Math.round(0.3 * capacity)}`, ...floodArgs]);
        const degraded = Array.isArray(start) ? await metricSum(srv.url, 'floodgate_degraded_total') : '-';
        await stop(srv.child);
        const t = tally(doc, 0, seconds);
        const l = latency(doc, 0, seconds);
        const ok = perSecond(doc, '200').slice(0, seconds).reduce((a, b) => a + b, 0);
        // Braze's unhealthy-host rule as flood --campaign judges it (src/flood/campaign/unhealthy.ts): its failure
        // statuses, timeouts and connection errors, per second, over sliding one-minute windows of the overload
        const buckets = doc.timeline.slice(0, seconds).map((x) => {
          let failures = 0;
          let calls = 0;
          for (const [code, n] of Object.entries(x.counts.statuses)) {
            calls += n;
            if (isCallerFailureStatus(Number(code))) failures += n;
          }
          for (const n of Object.values(x.counts.failures)) {
            calls += n;
            failures += n;
          }
          return { calls, failures };
        });
        const braze = judgeUnhealthy(buckets);
        const calls = t.answered + t.errors + t.timeouts;
        const after = latency(doc, seconds, seconds + 10);
        const afterT = tally(doc, seconds, seconds + 10);
        rows.push({
          run: name, 'offered/s': 2 * capacity, sent: doc.counts.sent, answered: t.answered, '200s': ok, 'share 200 %': ((100 * ok) / Math.max(1, calls)).toFixed(1),
          timeouts: t.timeouts, 'conn errors': t.errors, '> deadline': l.over(DEADLINE_MS), degraded, 'p99 ms': l.p99, 'max ms': l.max,
          'Braze worst minute %': (100 * (braze.worst?.share ?? 0)).toFixed(1), 'Braze breaker': braze.tripped ? 'TRIPS' : 'holds', 'p99 after ms': after.p99, 'errors after': afterT.errors + afterT.timeouts + afterT.s5xx,
          'flood bound s': `${doc.verdict.boundSeconds}/${doc.verdict.totalSeconds}`,
        });
      };
      await over('(a) 2 × capacity, 30 s', 30, []);
      await over('(b) 2 × capacity, 60 s', 60, []);
      await over('(b) 2 × capacity, 60 s, fallback body', 60, ['--collections', fallbackFile]);
      // The anchors, at the same 2 × capacity for 30 s under the same cap: can anything answer it in time by
      // refusing? floodgate refusing every miss, and the floor of refusing (a node:net server writing one canned
      // 503 a read, no HTTP parsing). Answering 2 × capacity in time needs a refusal to cost under half a miss;
      // keeping Braze's breaker closed needs more than 10 % of it answered with content on top.
      if (process.env.SPIKE_ANCHORS !== '0') {
        await over('anchor: floodgate refusing every miss (--max-rss 1), 30 s', 30, ['--max-rss', '1']);
        await over('anchor: the floor, raw node:net canned 503, 30 s', 30, () => startRaw(['refuse-net'], group, { RAW_LISTEN_SOCKETS: rawSockets }));
      }
      rows.push(ceilingRow, fgCeilingRow); // last: the table takes its columns from the first row
    } finally {
      // The last server may still be exiting (its pid stays in the group until it is reaped): try for 5 s, then
      // say so, rather than leave a floodgate-spike-<pid> group behind in silence.
      for (let tries = 0; existsSync(group); tries++) {
        try {
          rmdirSync(group);
        } catch (err) {
          if (tries >= 50) {
            say(`overload: could not remove the cgroup ${group} (${(err as Error).message}); remove it with: rmdir ${group}`);
            break;
          }
          await new Promise((r) => setTimeout(r, 100));
        }
      }
    }
    say(
      `\noverload (server capped at ${CPU_QUOTA_US / 100} % of core 0 by a cgroup, flood on core 1, ${CONNS} connections, cold cache over ${KEYS} keys, deadline ${DEADLINE_MS} ms, serve ${overloadArgs.join(' ') || '(defaults)'};\n` +
        ` latency from each request's schedule; '> deadline' = answers (any status) later than the deadline; Braze worst minute = the failure share (408/429/502/503/504/529,\n` +
        ` timeouts, connection errors) of the overload's worst one-minute window, and whether its breaker (over 3,000 and over 90 %) trips; 'after' = the 10 s at 30 % of capacity that follow)\n${table(rows)}\n`,
    );
  }
}

process.stdout.write(`\n${out.join('\n')}\n`);
