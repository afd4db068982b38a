// Starts throwaway redis-server processes for tests: loopback only, free ports, no persistence, temp dirs.
// Every process is spawned so that it dies with the test process: through `setpriv --pdeathsig KILL` where
// util-linux has it (covers SIGKILL of the test), and always through a synchronous 'exit' hook.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from '../../src/common/processes.ts';

const REDIS_SERVER = existsSync('/usr/bin/redis-server') ? '/usr/bin/redis-server' : 'redis-server';
const SETPRIV = ['/usr/bin/setpriv', '/bin/setpriv'].find((p) => existsSync(p) && supportsPdeathsig(p));
const READY_TIMEOUT_MS = 5_000;

const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

/**
 * A temp dir for one server or cluster, named after this process so a later run can sweep the dirs of runs
 * that were killed before their cleanup ran (their servers died with them; the dirs did not).
 */
export async function makeTempDir(kind: string): Promise<string> {
  await sweepStaleDirs();
  return mkdtemp(join(tmpdir(), `fg-${kind}-${process.pid}-`));
}

let swept = false;
async function sweepStaleDirs(): Promise<void> {
  if (swept) return;
  swept = true;
  const stale = (await readdir(tmpdir())).filter((name) => {
    const pid = /^fg-redis(?:-cluster)?-(\d+)-/.exec(name)?.[1];
    return pid !== undefined && !isAlive(Number(pid));
  });
  await Promise.all(stale.map((name) => rm(join(tmpdir(), name), { recursive: true, force: true })));
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function supportsPdeathsig(setpriv: string): boolean {
  const probe = spawnSync(setpriv, ['--pdeathsig', 'KILL', '--', 'true'], { stdio: 'ignore' });
  return probe.status === 0;
}

export { freePort };

/** Resolves true when a Redis on `port` answers PING with PONG (or with LOADING/a cluster error: it listens). */
export async function answersPing(port: number, timeoutMs = 500): Promise<boolean> {
  const socket = connect(port, '127.0.0.1');
  socket.setTimeout(timeoutMs);
  try {
    const reply = await new Promise<string>((resolve, reject) => {
      socket.once('connect', () => socket.write('PING\r\n'));
      socket.once('data', (data) => resolve(data.toString('latin1')));
      socket.once('error', reject);
      socket.once('timeout', () => reject(new Error('timeout')));
    });
    return reply.startsWith('+PONG');
  } catch {
    return false;
  } finally {
    socket.destroy();
  }
}

/** One redis-server process on a fixed port and directory; stop() and start() it as often as needed. */
export class RedisProcess {
  readonly port: number;
  readonly dir: string;
  readonly #args: readonly string[];
  #child: ChildProcess | undefined;

  constructor(port: number, dir: string, extraArgs: readonly string[] = []) {
    this.port = port;
    this.dir = dir;
    this.#args = [
      '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no',
      '--dir', dir, '--logfile', join(dir, 'redis.log'), '--daemonize', 'no', ...extraArgs,
    ];
  }

  get running(): boolean {
    return this.#child !== undefined;
  }

  /** Spawns the server and waits until it answers PING; rejects if it exits first (e.g. port taken). */
  async start(): Promise<void> {
    if (this.#child) return;
    const [cmd, args] = SETPRIV
      ? [SETPRIV, ['--pdeathsig', 'KILL', '--', REDIS_SERVER, ...this.#args]]
      : [REDIS_SERVER, [...this.#args]];
    const child = spawn(cmd, args, { stdio: 'ignore' });
    child.unref();
    live.add(child);
    this.#child = child;
    let exited = false;
    child.once('exit', () => {
      exited = true;
      live.delete(child);
      if (this.#child === child) this.#child = undefined;
    });
    child.once('error', () => undefined);
    const deadline = Date.now() + READY_TIMEOUT_MS;
    while (Date.now() < deadline) {
      if (exited) throw new Error(`redis-server on port ${this.port} exited during start (see ${this.dir}/redis.log)`);
      if (await answersPing(this.port)) return;
      await sleep(15);
    }
    await this.stop();
    throw new Error(`redis-server on port ${this.port} did not answer within ${READY_TIMEOUT_MS} ms`);
  }

  /** SIGSTOP / SIGCONT: a frozen server keeps its connections open but answers nothing (a slow Redis). */
  pause(): void {
    this.#child?.kill('SIGSTOP');
  }

  resume(): void {
    this.#child?.kill('SIGCONT');
  }

  /** Kills the server (SIGKILL: a crash, as far as clients can tell) and waits for it to be gone. */
  async stop(): Promise<void> {
    const child = this.#child;
    if (!child) return;
    const exited = child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : once(child, 'exit');
    child.ref(); // keep the loop alive until the exit is reaped
    child.kill('SIGKILL');
    await exited;
    this.#child = undefined;
  }
}

export interface RedisServer extends AsyncDisposable {
  readonly url: string;
  readonly port: number;
  /** Kills the server; clients see a crash. */
  stop(): Promise<void>;
  /** Starts it again on the same port (empty: nothing is persisted). */
  restart(): Promise<void>;
  /** Freezes the process (SIGSTOP): connections stay open, nothing answers. */
  pause(): void;
  resume(): void;
}

/** A standalone Redis on a free loopback port in a temp dir. `await using srv = await startRedisServer()`. */
export async function startRedisServer(extraArgs: readonly string[] = []): Promise<RedisServer> {
  const dir = await makeTempDir('redis');
  for (let attempt = 1; ; attempt++) {
    const proc = new RedisProcess(await freePort(), dir, extraArgs);
    try {
      await proc.start();
      return {
        url: `redis://127.0.0.1:${proc.port}`,
        port: proc.port,
        stop: () => proc.stop(),
        pause: () => proc.pause(),
        resume: () => proc.resume(),
        restart: async () => {
          await proc.stop();
          await proc.start();
        },
        [Symbol.asyncDispose]: async () => {
          await proc.stop();
          await rm(dir, { recursive: true, force: true });
        },
      };
    } catch (err) {
      // Another process took the port between the probe and the bind: try another one.
      if (attempt >= 3) {
        await rm(dir, { recursive: true, force: true });
        throw err;
      }
    }
  }
}
