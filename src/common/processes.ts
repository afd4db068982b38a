// Processes and ports, shared by everything that starts processes on this machine (the serve command's
// primary, the lab, the benchmarks, the tests): picking a free port, pinning a child to a core, spawning it,
// waiting until it answers over HTTP, and stopping it for certain.
import { spawn, spawnSync, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { once } from 'node:events';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { createServer } from 'node:net';
import { availableParallelism } from 'node:os';

/** A port nobody listens on right now on `host` (the kernel's pick). */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  const srv = createServer().listen(0, host);
  await once(srv, 'listening');
  const address = srv.address();
  srv.close();
  await once(srv, 'close');
  if (address === null || typeof address === 'string') throw new Error('could not pick a free port');
  return address.port;
}

/** SIGTERM (a graceful stop), SIGKILL if it has not exited after graceMs; resolves once it has exited. */
export async function stopChild(child: ChildProcess, graceMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  const kill = setTimeout(() => child.kill('SIGKILL'), graceMs);
  try {
    await exited;
  } finally {
    clearTimeout(kill);
  }
}

let taskset: boolean | undefined;
/** Whether taskset runs here (asked once, on first use: a serve process never pays for the spawn). */
export function hasTaskset(): boolean {
  return (taskset ??= spawnSync('taskset', ['--version']).error === undefined);
}

/**
 * The command-line prefix that pins a process to one core (core % cores): core 0 for the server under test,
 * core 1 for the load generator. Empty where taskset or a second core is missing.
 */
export function pin(core: number, cores = availableParallelism()): string[] {
  return hasTaskset() && cores > 1 ? ['taskset', '-c', String(core % cores)] : [];
}

/** Spawns argv pinned to `core` (see pin). */
export function spawnPinned(core: number, argv: readonly string[], opts: SpawnOptions = {}, cores?: number): ChildProcess {
  const [bin, ...args] = [...pin(core, cores), ...argv];
  return spawn(bin as string, args, { stdio: ['ignore', 'pipe', 'pipe'], ...opts });
}

/** GET url: its status and body; https without checking the certificate (a local self-signed server). */
export function httpGet(url: string, timeoutMs = 5000): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = (url.startsWith('https:') ? httpsRequest : httpRequest)(url, { rejectUnauthorized: false, timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.end();
  });
}

export interface WaitForHttpOptions {
  timeoutMs: number;
  /** Between attempts, ms. Default 100. */
  intervalMs?: number;
  /** Which status counts as up. Default: 200 only. */
  ready?: (status: number) => boolean;
  /** True once the process that should answer is gone: stop waiting. */
  gone?: () => boolean;
}

/**
 * Polls GET url until it answers with a ready status: 'ready'; 'gone' when opts.gone() turns true first;
 * 'timeout' after timeoutMs. The caller words the error (with the process's output).
 */
export async function waitForHttp(url: string, opts: WaitForHttpOptions): Promise<'ready' | 'gone' | 'timeout'> {
  const until = Date.now() + opts.timeoutMs;
  const ready = opts.ready ?? ((status: number) => status === 200);
  for (;;) {
    if (opts.gone?.()) return 'gone';
    try {
      if (ready((await httpGet(url, 1000)).status)) return 'ready';
    } catch {
      // not listening yet
    }
    if (opts.gone?.()) return 'gone';
    if (Date.now() > until) return 'timeout';
    await new Promise((r) => setTimeout(r, opts.intervalMs ?? 100));
  }
}
