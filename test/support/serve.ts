// Spawns `node bin/floodgate.js serve` as a real process for integration tests and benchmarks:
//   await using srv = await serve({ args: ['--database-url', url, '--db-schema', schema] });
//   const res = await fetch(`${srv.url}/data?user_id=42`);
// It listens on a free loopback port, is ready once /healthz answers, keeps the tail of its stdout and stderr
// (shown when it fails to start), and is stopped on dispose: SIGTERM, then SIGKILL after a grace period. The
// process also dies with the test process, even when that one is SIGKILLed (setpriv --pdeathsig where available).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, waitForHttp } from '../../src/common/processes.ts';

const BIN = fileURLToPath(new URL('../../bin/floodgate.js', import.meta.url));
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const SETPRIV = ['/usr/bin/setpriv', '/bin/setpriv'].find(
  (p) => existsSync(p) && spawnSync(p, ['--pdeathsig', 'KILL', '--', 'true'], { stdio: 'ignore' }).status === 0,
);
/** Bytes of stdout and of stderr kept per process (the tail). */
const KEEP_BYTES = 64 * 1024;
/** Environment variables the server reads; the test's own values are not passed on (see ServeOptions.env). */
const SERVER_ENV = /^(FLOODGATE_|DATABASE_URL$|REDIS_URL$|PORT$|HOST$|LOG_LEVEL$)/;

const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

export interface ServeOptions {
  /**
   * `serve` flags. They come after the helper's defaults (`--host 127.0.0.1 --port <free> --workers 1
   * --seed 0 --log-level warn --data-dir <temp dir>`), so a flag given here wins.
   */
  readonly args?: readonly string[];
  /** Environment for the server. Server variables of the calling process (FLOODGATE_*, DATABASE_URL, …) are not inherited. */
  readonly env?: Readonly<Record<string, string>>;
  /** Node.js flags before the script, e.g. ['--cpu-prof', '--cpu-prof-dir=prof']. */
  readonly nodeArgs?: readonly string[];
  /** A command prefix, e.g. ['taskset', '-c', '0'] to pin the server to a core. */
  readonly wrap?: readonly string[];
  /** How long to wait for /healthz, ms. Default 30 s (seeding many users takes a while). */
  readonly readyTimeoutMs?: number;
  /**
   * Another checkout of floodgate to run instead of this one (its bin/floodgate.js, with it as the working
   * directory): a benchmark compares a change with the commit before it side by side in one run.
   */
  readonly root?: string;
}

export interface ExitStatus {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

export interface Served extends AsyncDisposable {
  /** http://127.0.0.1:<port> */
  readonly url: string;
  readonly port: number;
  readonly pid: number;
  /** The tail of what the process wrote so far. */
  stdout(): string;
  stderr(): string;
  /** Resolves when the process has exited. */
  readonly exited: Promise<ExitStatus>;
  /** SIGTERM (a graceful shutdown), SIGKILL after graceMs; resolves with the exit status. Idempotent. */
  stop(graceMs?: number): Promise<ExitStatus>;
}

export { freePort };

class Tail {
  #chunks: Buffer[] = [];
  #bytes = 0;
  push(chunk: Buffer): void {
    this.#chunks.push(chunk);
    this.#bytes += chunk.length;
    while (this.#bytes > KEEP_BYTES && this.#chunks.length > 1) this.#bytes -= this.#chunks.shift()?.length ?? 0;
  }
  text(): string {
    return Buffer.concat(this.#chunks).toString('utf8');
  }
}

interface Spawned {
  child: ChildProcess;
  out: Tail;
  err: Tail;
  exited: Promise<ExitStatus>;
  dataDir: string;
}

async function spawnServe(opts: ServeOptions, port: number): Promise<Spawned> {
  const dataDir = await mkdtemp(join(tmpdir(), `fg-serve-${process.pid}-`));
  const args = [
    ...(opts.nodeArgs ?? []), opts.root === undefined ? BIN : join(opts.root, 'bin', 'floodgate.js'), 'serve',
    '--host', '127.0.0.1', '--port', String(port), '--workers', '1', '--seed', '0', '--log-level', 'warn', '--data-dir', dataDir,
    ...(opts.args ?? []),
  ];
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!SERVER_ENV.test(k)) env[k] = v;
  Object.assign(env, opts.env);
  const argv = [...(SETPRIV ? [SETPRIV, '--pdeathsig', 'KILL', '--'] : []), ...(opts.wrap ?? []), process.execPath, ...args];
  const child = spawn(argv[0] as string, argv.slice(1), { cwd: opts.root ?? ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  live.add(child);
  const out = new Tail();
  const err = new Tail();
  child.stdout?.on('data', (d: Buffer) => out.push(d));
  child.stderr?.on('data', (d: Buffer) => err.push(d));
  const exited = new Promise<ExitStatus>((resolve) => {
    child.once('error', (e) => {
      err.push(Buffer.from(`spawn failed: ${e.message}\n`));
      live.delete(child);
      resolve({ code: null, signal: null });
    });
    child.once('close', (code, signal) => {
      live.delete(child);
      resolve({ code, signal });
    });
  });
  return { child, out, err, exited, dataDir };
}

/** The last `--port` in args, if the caller chose one. */
function portFlag(args: readonly string[]): number | undefined {
  let port: number | undefined;
  for (let i = 0; i < args.length; i++) {
    const a = args[i] ?? '';
    if (a === '--port') port = Number(args[i + 1]);
    else if (a.startsWith('--port=')) port = Number(a.slice('--port='.length));
  }
  return port;
}

/** Starts `floodgate serve` and resolves once /healthz answers 200; rejects (with its stderr) if it exits or times out. */
export async function serve(opts: ServeOptions = {}): Promise<Served> {
  const port = portFlag(opts.args ?? []) ?? (await freePort());
  const s = await spawnServe(opts, port);
  const url = `http://127.0.0.1:${port}`;
  let stopping: Promise<ExitStatus> | undefined;
  const stop = (graceMs = 5000): Promise<ExitStatus> =>
    (stopping ??= (async () => {
      if (s.child.exitCode === null && s.child.signalCode === null) {
        s.child.kill('SIGTERM');
        const timer = setTimeout(() => s.child.kill('SIGKILL'), graceMs);
        const status = await s.exited;
        clearTimeout(timer);
        await rm(s.dataDir, { recursive: true, force: true });
        return status;
      }
      await rm(s.dataDir, { recursive: true, force: true });
      return s.exited;
    })());
  const served: Served = {
    url,
    port,
    pid: s.child.pid ?? -1,
    stdout: () => s.out.text(),
    stderr: () => s.err.text(),
    exited: s.exited,
    stop,
    [Symbol.asyncDispose]: async () => {
      await stop();
    },
  };
  let gone = false;
  void s.exited.then(() => (gone = true));
  const timeoutMs = opts.readyTimeoutMs ?? 30_000;
  const up = await waitForHttp(`${url}/healthz`, { timeoutMs, intervalMs: 25, gone: () => gone });
  if (up === 'ready') return served;
  if (up === 'gone') {
    const st = await s.exited;
    await stop();
    throw new Error(`floodgate serve exited during start (code ${st.code}, signal ${st.signal}):\n${s.err.text()}${s.out.text()}`);
  }
  await stop(0);
  throw new Error(`floodgate serve did not answer /healthz within ${timeoutMs} ms:\n${s.err.text()}${s.out.text()}`);
}

/**
 * Runs `floodgate serve` expecting it NOT to start (bad configuration): resolves with its exit status and
 * output once it exits. Rejects if it is still running after timeoutMs (it is killed then).
 */
export async function serveExpectingExit(opts: ServeOptions & { timeoutMs?: number } = {}): Promise<ExitStatus & { stdout: string; stderr: string }> {
  const s = await spawnServe(opts, portFlag(opts.args ?? []) ?? (await freePort()));
  const timeoutMs = opts.timeoutMs ?? 30_000;
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), timeoutMs)));
  try {
    const first = await Promise.race([s.exited, timedOut]);
    if (first === 'timeout') {
      s.child.kill('SIGKILL');
      await s.exited;
      throw new Error(`floodgate serve was still running after ${timeoutMs} ms:\n${s.err.text()}${s.out.text()}`);
    }
    return { ...first, stdout: s.out.text(), stderr: s.err.text() };
  } finally {
    clearTimeout(timer);
    await rm(s.dataDir, { recursive: true, force: true });
  }
}

/**
 * The sum of a Prometheus counter or gauge over the series whose labels include `labels`, scraped from
 * <url>/metrics. 0 when no series matches.
 */
export async function metric(url: string, name: string, labels: Readonly<Record<string, string>> = {}): Promise<number> {
  const res = await fetch(`${url}/metrics`);
  const text = await res.text();
  if (res.status !== 200) throw new Error(`GET ${url}/metrics answered ${res.status}: ${text}`);
  return sumMetric(text, name, labels);
}

/** The sum of the series of `name` in a Prometheus text exposition whose labels include `labels`. */
export function sumMetric(text: string, name: string, labels: Readonly<Record<string, string>> = {}): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const rest = line.slice(name.length);
    if (rest[0] !== '{' && rest[0] !== ' ') continue;
    const close = rest[0] === '{' ? rest.indexOf('}') : 0;
    const labelText = rest[0] === '{' ? rest.slice(1, close) : '';
    const have = new Map<string, string>();
    for (const m of labelText.matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) have.set(m[1] as string, m[2] as string);
    if (Object.entries(labels).every(([k, v]) => have.get(k) === v)) sum += Number(rest.slice(close + 1).trim().split(' ')[0]);
  }
  return sum;
}
