// Shared benchmark plumbing: start a server pinned to one core, drive it with wrk (or autocannon when wrk
// is not installed) pinned to the other, parse the figures. Benchmarks print ratios measured in one run.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { pin, spawnPinned as spawnPinnedArgv, stopChild, waitForHttp as waitUntil } from '../src/common/processes.ts';
export { freePort, pin } from '../src/common/processes.ts';
import { join, resolve } from 'node:path';

export interface LoadResult {
  tool: string;
  rps: number;
  p50ms: number;
  p99ms: number;
  errors: number;
  requests: number;
}

export const hasWrk = spawnSync('wrk', ['--version']).error === undefined;

/** Spawns cmd args pinned to `core` (common/processes.ts pin: 0 = server, 1 = load generator). */
export function spawnPinned(core: number, cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env): ChildProcess {
  return spawnPinnedArgv(core, [cmd, ...args], { env });
}

/** Waits until GET url answers (any status), or throws after timeoutMs. */
export async function waitForHttp(url: string, timeoutMs = 60_000): Promise<void> {
  if ((await waitUntil(url, { timeoutMs, ready: () => true })) !== 'ready') throw new Error(`${url} did not answer within ${timeoutMs} ms`);
}

/** Stops a benchmark's child: SIGTERM, SIGKILL after 5 s. */
export const stop = (child: ChildProcess): Promise<void> => stopChild(child, 5000);

const LUA = (path: string, maxId: number, sequential: boolean, start: number): string =>
  sequential
    ? `
counter = ${start}
request = function()
  counter = counter + 1
  return wrk.format("GET", "${path}" .. ((counter - 1) % ${maxId} + 1))
end
`
    : `
math.randomseed(os.time())
request = function()
  return wrk.format("GET", "${path}" .. math.random(1, ${maxId}))
end
`;

function ms(v: string, unit: string): number {
  const n = Number(v);
  return unit === 'us' ? n / 1000 : unit === 's' ? n * 1000 : unit === 'm' ? n * 60_000 : n;
}

/**
 * Drives `base + path + <random id 1..maxId>` for `seconds` with `connections` keep-alive connections from
 * one pinned core.
 */
export async function drive(opts: { url: string; path: string; maxId: number; seconds: number; connections: number; core?: number; threads?: number; sequential?: boolean; start?: number }): Promise<LoadResult> {
  const core = opts.core ?? 1;
  if (hasWrk) {
    const dir = mkdtempSync(join(tmpdir(), 'fg-bench-'));
    const script = join(dir, 'random.lua');
    writeFileSync(script, LUA(opts.path, opts.maxId, opts.sequential ?? false, opts.start ?? 0));
    const args = [...pin(core), 'wrk', `-t${opts.threads ?? 1}`, `-c${opts.connections}`, `-d${opts.seconds}s`, '--latency', '-s', script, opts.url];
    const out = await run(args);
    const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? NaN);
    const pct = (p: string): number => {
      const m = new RegExp(`^\\s+${p}%\\s+([\\d.]+)(us|ms|s|m)`, 'm').exec(out);
      return m ? ms(m[1] as string, m[2] as string) : NaN;
    };
    const requests = Number(/(\d+) requests in/.exec(out)?.[1] ?? NaN);
    const sockErr = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
    const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0);
    const errors = non2xx + (sockErr ? sockErr.slice(1).reduce((a, b) => a + Number(b), 0) : 0);
    if (!Number.isFinite(rps)) throw new Error(`could not read wrk's output:\n${out}`);
    return { tool: 'wrk', rps, p50ms: pct('50'), p99ms: pct('99'), errors, requests };
  }
  const args = [...pin(core), process.execPath, 'node_modules/autocannon/autocannon.js', '--json', '-c', String(opts.connections), '-d', String(opts.seconds), '-I', `${opts.url}${opts.path}[<id>]`];
  const out = JSON.parse(await run(args)) as { requests: { average: number; total: number }; latency: { p50: number; p99: number }; errors: number; non2xx: number };
  return { tool: 'autocannon', rps: out.requests.average, p50ms: out.latency.p50, p99ms: out.latency.p99, errors: out.errors + out.non2xx, requests: out.requests.total };
}

function run(argv: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const [bin, ...args] = argv;
    const child = spawn(bin as string, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`${argv.join(' ')} exited ${code}:\n${out}`))));
  });
}

export function table(rows: Record<string, string | number>[]): string {
  const first = rows[0];
  if (!first) return '';
  const cols = Object.keys(first);
  const cell = (v: string | number | undefined): string => (typeof v === 'number' ? (Number.isInteger(v) ? String(v) : v.toFixed(2)) : (v ?? ''));
  const widths = cols.map((c) => Math.max(c.length, ...rows.map((r) => cell(r[c]).length)));
  const line = (vals: string[]): string => vals.map((v, i) => v.padStart(widths[i] ?? 0)).join('  ');
  return [line(cols), line(widths.map((w) => '-'.repeat(w))), ...rows.map((r) => line(cols.map((c) => cell(r[c]))))].join('\n');
}

/**
 * CPU seconds (user + system) used so far by a process and all its descendants (a cluster primary's workers
 * included), from /proc; undefined where /proc is absent.
 */
export function cpuSeconds(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    let total = (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS; // utime, stime (stat fields 14, 15)
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      for (const child of readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').split(' ').filter(Boolean)) {
        total += cpuSeconds(Number(child)) ?? 0;
      }
    }
    return total;
  } catch {
    return undefined;
  }
}

const CLOCK_TICKS = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout?.trim()) || 100;

/**
 * A SQLite store of `keys` demo users under .bench/ (built once with `floodgate seed`, then reused by every
 * benchmark that asks for the same count; the folder name is bench:miss's, which built it first).
 */
export function demoSqliteStore(keys: number, log: (line: string) => void = (l) => void process.stderr.write(`${l}\n`)): string {
  const root = resolve(import.meta.dirname, '..');
  const dir = join(root, '.bench', `miss-sqlite-${keys}`);
  if (!existsSync(join(dir, 'floodgate.db'))) {
    mkdirSync(dir, { recursive: true });
    log(`  building the ${keys.toLocaleString('en')}-key SQLite store in ${dir} (once)…`);
    const r = spawnSync(process.execPath, ['--disable-warning=ExperimentalWarning', 'bin/floodgate.js', 'seed', '--seed', String(keys), '--data-dir', dir], { cwd: root, stdio: 'inherit', env: { ...process.env, DATABASE_URL: '', REDIS_URL: '' } });
    if (r.status !== 0) throw new Error('floodgate seed failed');
  }
  return dir;
}
