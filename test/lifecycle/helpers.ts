// Real `floodgate serve` processes for the lifecycle and overload tests: started on port 0 (the primary picks
// the port), ready once it prints its URL, HTTP or HTTPS alike; killed (primary and workers) by `kill()`,
// which every test calls in `after`, and by the kernel if the test process dies (setpriv --pdeathsig).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { request, Agent, type IncomingHttpHeaders } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const BIN = fileURLToPath(new URL('../../bin/floodgate.js', import.meta.url));
const SETPRIV = ['/usr/bin/setpriv', '/bin/setpriv'].find((p) => existsSync(p) && spawnSync(p, ['--pdeathsig', 'KILL', '--', 'true'], { stdio: 'ignore' }).status === 0);
const SERVER_ENV = /^(FLOODGATE_|DATABASE_URL$|REDIS_URL$|PORT$|HOST$|LOG_LEVEL$)/;

export interface Server {
  readonly url: string;
  readonly pid: number;
  readonly child: ChildProcess;
  readonly exited: Promise<number | null>;
  /** The server's --data-dir (the SQLite file is floodgate.db in it). */
  readonly dataDir: string;
  output(): string;
  /** The primary's worker pids, now. */
  workers(): number[];
  /** SIGKILLs the primary and its workers; removes the data dir. Idempotent. */
  kill(): Promise<void>;
}

export async function startServe(args: string[], env: Record<string, string> = {}, readyMs = 30_000): Promise<Server> {
  const dataDir = mkdtempSync(join(tmpdir(), 'fg-life-'));
  const base: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!SERVER_ENV.test(k)) base[k] = v;
  const argv = [...(SETPRIV ? [SETPRIV, '--pdeathsig', 'KILL', '--'] : []), process.execPath, BIN, 'serve', '--host', '127.0.0.1', '--port', '0', '--seed', '0', '--data-dir', dataDir, '--log-level', 'warn', ...args];
  const child = spawn(argv[0] as string, argv.slice(1), { env: { ...base, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-200_000)));
  child.stderr?.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-200_000)));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const workers = (): number[] => {
    const r = spawnSync('ps', ['--ppid', String(child.pid), '-o', 'pid=']);
    return r.stdout.toString().split('\n').map((s) => Number(s.trim())).filter((n) => n > 0);
  };
  let killed: Promise<void> | undefined;
  const kill = (): Promise<void> =>
    (killed ??= (async () => {
      for (const w of workers()) process.kill(w, 'SIGKILL');
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
      rmSync(dataDir, { recursive: true, force: true });
    })());
  const until = Date.now() + readyMs;
  for (;;) {
    const m = /floodgate is serving on (\S+)/.exec(out);
    if (m?.[1]) return { url: m[1], pid: child.pid ?? -1, child, exited, dataDir, output: () => out, workers, kill };
    if (child.exitCode !== null || Date.now() > until) {
      await kill();
      throw new Error(`floodgate serve did not start:\n${out}`);
    }
    await sleep(20);
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function eventually(check: () => boolean | Promise<boolean>, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  for (;;) {
    if (await check()) return true;
    if (Date.now() > end) return false;
    await sleep(25);
  }
}

export interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
  ms: number;
}

/** One GET; `agent: false` = a new connection (Connection: close). Rejects on a connection error. */
export function get(url: string, agent: Agent | false = false, timeoutMs = 10_000): Promise<Reply> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const req = request(url, { agent, timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body, ms: performance.now() - t0 }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}

/**
 * Closed-loop load until stopped: `concurrency` loops, each sending GETs (url(i) for the i-th request) over
 * one keep-alive agent. Counts answers by status and connection failures, keeps the slowest time.
 */
export function load(url: (i: number) => string, concurrency: number) {
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
  const stats = { requests: 0, statuses: new Map<number, number>(), failures: [] as string[], maxMs: 0 };
  let running = true;
  let i = 0;
  const loops = Array.from({ length: concurrency }, async () => {
    while (running) {
      try {
        const r = await get(url(i++), agent, 5000);
        stats.requests++;
        stats.statuses.set(r.status, (stats.statuses.get(r.status) ?? 0) + 1);
        stats.maxMs = Math.max(stats.maxMs, r.ms);
      } catch (err) {
        stats.failures.push((err as Error).message);
      }
    }
  });
  return {
    stats,
    async stop() {
      running = false;
      await Promise.all(loops);
      agent.destroy();
      return stats;
    },
  };
}
