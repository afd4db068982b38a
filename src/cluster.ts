// The process supervisor (node:cluster). The primary forks N workers that share one listening socket (each
// worker accepts from it directly), answers /metrics for all of them (cluster-metrics.ts), replaces any worker that exits
// unasked (with a back-off while they crash-loop), relays invalidations and warmed records (cluster-warm.ts) between workers (and, when one dies
// without draining, tells the others from which store version to catch up on what it may not have announced), and on
//   SIGTERM / SIGINT  drains every worker (stop accepting, finish in-flight requests within the shutdown
//                     timeout) and exits 0;
//   SIGHUP            reloads (serve.ts validates the new collections file first, once, here in the primary; a
//                     bad one changes nothing): for each worker, start a replacement with the new configuration,
//                     wait until it listens, then drain the old one, so there is always a worker accepting. If a
//                     replacement fails to start, the workers already replaced are rolled back to the previous
//                     configuration: two configurations never keep serving side by side, and the count stays.
// A worker only ever drains when told to (or on SIGTERM sent to it directly, or when the primary is gone).
import cluster, { type Worker } from 'node:cluster';
import type { Logger } from 'pino';
import type { App } from './app.ts';
import { isMetricsRequest, metricsForWorkers } from './cluster-metrics.ts';
import { IPC_CATCH_UP, isIpcInvalidation, type IpcCatchUp } from './bus/ipc-bus.ts';
import { isIpcWarm, isIpcWarmAck } from './bus/ipc-warm.ts';
import { warmRelay } from './cluster-warm.ts';

const READY = 'floodgate:ready';
/** A worker that cannot start says why (one line), so that the primary prints it once, not once per worker. */
const FAILED = 'floodgate:failed';
const SHUTDOWN = 'floodgate:shutdown';
/** Extra time past the shutdown timeout before a draining worker is killed. */
const KILL_GRACE_MS = 5000;
/** A worker that dies sooner than this after starting counts as crash-looping. */
const EARLY_DEATH_MS = 5000;
const MAX_BACKOFF_MS = 5000;

export interface SupervisorOptions {
  readonly workers: number;
  readonly shutdownTimeoutMs: number;
  readonly logger: Logger;
  /** Environment added for every worker. */
  readonly env?: Record<string, string>;
}

interface WorkerState {
  readonly startedAt: number;
  /** The configuration generation it was started with (bumped by each reload). */
  readonly generation: number;
  /** Replaced when it dies: a worker that served; never one that failed to start during start() or a roll. */
  replaceOnDeath: boolean;
  retiring: boolean;
  readonly ready: Promise<string>;
  readonly exited: Promise<void>;
  /**
   * Undefined until the worker is ready; then the highest store version after which everything it committed
   * may be unannounced: its start version (READY), raised by every change of it the primary relayed. A worker
   * commits and announces in order (SQLite hands out versions in commit order), so what it could not announce
   * before dying lies after this version.
   */
  announced: number | undefined;
}

/**
 * A worker's V8 young generation, MB a semi-space. V8's default on this kind of machine is 32 MB (64 MB of young
 * generation a worker, held whatever the worker caches): with 16 the worker's RSS is 32 MB nearer what
 * --cache-bytes accounts for (docs/operations.md, the memory model), and a scavenge walks at most half as much.
 */
export const WORKER_SEMI_SPACE_MB = 16;

/** The workers' Node.js flags: the primary's, with the young generation capped unless the user set it. */
export function workerExecArgv(execArgv: readonly string[], nodeOptions = ''): string[] {
  const set = (a: string): boolean => /^--max-semi-space-size(=|$)/.test(a);
  if (execArgv.some(set) || nodeOptions.split(/\s+/).some(set)) return [...execArgv];
  return [...execArgv, `--max-semi-space-size=${WORKER_SEMI_SPACE_MB}`];
}

export class Supervisor {
  readonly #opts: SupervisorOptions;
  readonly #workers = new Map<Worker, WorkerState>();
  #stopping = false;
  #rolling: Promise<boolean> | undefined;
  #crashes = 0;
  #url = '';
  #env: Record<string, string> | undefined;
  #generation = 0;
  /** Answers a worker's request for the whole instance's metrics. */
  readonly #metrics = metricsForWorkers();
  /** Hands the records one worker warmed to the others (floodgate warm). */
  readonly #warm = warmRelay();

  constructor(opts: SupervisorOptions) {
    this.#opts = opts;
    this.#env = opts.env;
  }

  get url(): string {
    return this.#url;
  }
  get pids(): number[] {
    return [...this.#workers.keys()].map((w) => w.process.pid ?? 0);
  }

  /** Forks the workers; resolves with the URL once every one listens, rejects if one dies first. */
  async start(): Promise<string> {
    // Workers accept from the one shared listening socket themselves: the primary never touches a connection
    // (round-robin would accept each one in the primary and pass it over IPC, a bottleneck when thousands of
    // clients connect at once). Pending connections stay in the shared socket's queue while a worker drains.
    cluster.schedulingPolicy = cluster.SCHED_NONE;
    cluster.setupPrimary({ execArgv: workerExecArgv(process.execArgv, process.env.NODE_OPTIONS) });
    const states = Array.from({ length: this.#opts.workers }, () => this.#fork(false));
    const urls = await Promise.all(states.map((s) => s.ready));
    this.#url = urls[0] ?? '';
    return this.#url;
  }

  /** Replaces the workers one at a time; a second call while one runs joins it. Resolves true when all rolled. */
  rollingRestart(): Promise<boolean> {
    this.#rolling ??= this.#roll().finally(() => (this.#rolling = undefined));
    return this.#rolling;
  }

  /**
   * Rolls every worker onto a new environment (the validated configuration). If a new worker fails to start,
   * the ones already rolled go back to the previous environment. Resolves true when the new one serves.
   */
  async reload(env: Record<string, string>): Promise<boolean> {
    await this.#rolling?.catch(() => undefined);
    const previous = { env: this.#env, generation: this.#generation };
    this.#env = env;
    this.#generation++;
    if (await this.rollingRestart()) return true;
    this.#opts.logger.error('reload failed: rolling the replaced workers back to the previous configuration');
    this.#env = previous.env;
    this.#generation = previous.generation;
    this.#rolling ??= this.#roll(true).finally(() => (this.#rolling = undefined));
    await this.#rolling;
    return false;
  }

  /** Drains every worker and resolves once all have exited. */
  async stop(): Promise<void> {
    this.#stopping = true;
    await Promise.all([...this.#workers.keys()].map((w) => this.#retire(w)));
  }

  /**
   * A plain restart rolls every worker; after a reload, the ones not yet on the current generation. A roll back
   * (`back`: a reload failed part-way) rolls only those, and when the previous configuration cannot start either
   * (the dependency that failed the reload still failing), it retires the worker on the failed configuration
   * anyway, since the others serve the previous one, and starts its replacement later (#refill): two
   * configurations never keep serving side by side, at the cost of a worker fewer meanwhile.
   */
  async #roll(back = false): Promise<boolean> {
    const log = this.#opts.logger;
    const plain = !back && [...this.#workers.values()].every((s) => s.generation === this.#generation);
    log.info({ workers: this.#workers.size }, back ? 'rolling back' : 'rolling restart');
    let short = false;
    for (const [old, state] of [...this.#workers.entries()]) {
      if (this.#stopping) return false;
      if (state.retiring || (!plain && state.generation === this.#generation) || !this.#workers.has(old)) continue;
      const fresh = this.#fork(false);
      try {
        await fresh.ready;
      } catch (err) {
        log.error({ err: { message: (err as Error).message } }, back ? 'rolling back: a worker failed to start; retiring the one on the failed configuration anyway' : 'rolling restart stopped: a new worker failed to start');
        if (!back) return false;
        short = true;
      }
      await this.#retire(old);
    }
    if (short) {
      this.#refill(1);
      return false;
    }
    log.info(back ? 'rolled back' : 'rolling restart done');
    return true;
  }

  /** Starts workers of the current configuration until there are --workers again, with back-off while they fail. */
  #refill(attempt: number): void {
    const delay = attempt === 0 ? 0 : Math.min(MAX_BACKOFF_MS, 100 * 2 ** (attempt - 1));
    setTimeout(() => {
      if (this.#stopping || this.#workers.size >= this.#opts.workers) return;
      this.#fork(false).ready.then(
        () => this.#refill(0),
        (err: unknown) => {
          this.#opts.logger.error({ err: { message: (err as Error).message }, retryInMs: Math.min(MAX_BACKOFF_MS, 100 * 2 ** attempt) }, 'a worker failed to start; starting another later');
          this.#refill(attempt + 1);
        },
      );
    }, delay);
  }

  #fork(replaceOnDeath = true): WorkerState {
    const worker = cluster.fork(this.#env);
    const log = this.#opts.logger;
    let onReady: (url: string) => void = () => undefined;
    let onEarlyExit: (err: Error) => void = () => undefined;
    const ready = new Promise<string>((resolve, reject) => {
      onReady = resolve;
      onEarlyExit = reject;
    });
    ready.catch(() => undefined); // observed by whoever awaits it; never unhandled
    const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
    let failure: { message: string; exitCode: number } | undefined;
    const state: WorkerState = { startedAt: performance.now(), generation: this.#generation, replaceOnDeath, retiring: false, ready, exited, announced: undefined };
    this.#workers.set(worker, state);
    worker.on('message', (m: unknown) => {
      if (isIpcInvalidation(m)) {
        for (const c of m.changes) if (state.announced !== undefined && c.version > state.announced) state.announced = c.version;
        for (const w of this.#workers.keys()) if (w !== worker && w.isConnected()) w.send(m, undefined, () => undefined);
      } else if (isIpcWarm(m)) {
        this.#warm.share(worker, m, [...this.#workers.entries()].filter(([w, st]) => w !== worker && !st.retiring && st.announced !== undefined && w.isConnected()).map(([w]) => w));
      } else if (isIpcWarmAck(m)) {
        this.#warm.ack(m);
      } else if (isMetricsRequest(m)) {
        this.#metrics(worker, m);
      } else if (typeof m === 'object' && m !== null && (m as { t?: unknown }).t === READY) {
        log.debug({ worker: worker.process.pid }, 'worker ready');
        state.replaceOnDeath = true;
        const version = (m as { version?: unknown }).version;
        state.announced = Number.isSafeInteger(version) ? (version as number) : 0;
        onReady(String((m as { url?: unknown }).url));
      } else if (typeof m === 'object' && m !== null && (m as { t?: unknown }).t === FAILED) {
        const f = m as { message?: unknown; exitCode?: unknown };
        failure = { message: String(f.message), exitCode: f.exitCode === 2 ? 2 : 1 };
      }
    });
    worker.on('error', (err) => log.warn({ err, worker: worker.process.pid }, 'worker channel error'));
    worker.once('exit', (code, signal) => {
      this.#workers.delete(worker);
      // Not a clean drain (killed, crashed): what it committed after its last announced change reached no one.
      // A worker that never got ready served no writes.
      if ((code !== 0 || signal !== null) && state.announced !== undefined && !this.#stopping) this.#catchUp(worker, state.announced);
      onEarlyExit(Object.assign(new Error(failure?.message ?? `worker ${worker.process.pid} exited (${signal ?? `code ${code}`}) before it was ready`), { exitCode: failure?.exitCode ?? 1 }));
      if (state.retiring || this.#stopping || !state.replaceOnDeath) return;
      const lived = performance.now() - state.startedAt;
      this.#crashes = lived < EARLY_DEATH_MS ? this.#crashes + 1 : 0;
      const delay = this.#crashes === 0 ? 0 : Math.min(MAX_BACKOFF_MS, 100 * 2 ** (this.#crashes - 1));
      log.warn({ worker: worker.process.pid, code, signal, restartInMs: delay }, 'worker died; replacing it');
      setTimeout(() => {
        if (!this.#stopping) this.#fork().ready.catch((err: unknown) => log.error({ err: { message: (err as Error).message } }, 'replacement worker failed to start'));
      }, delay);
    });
    return state;
  }

  #catchUp(dead: Worker, since: number): void {
    const message: IpcCatchUp = { t: IPC_CATCH_UP, since };
    this.#opts.logger.info({ worker: dead.process.pid, since }, 'a worker died: the others catch up from the store');
    for (const w of this.#workers.keys()) if (w.isConnected()) w.send(message, undefined, () => undefined);
  }

  async #retire(worker: Worker): Promise<void> {
    const state = this.#workers.get(worker);
    if (state === undefined) return;
    state.retiring = true;
    if (worker.isConnected()) worker.send({ t: SHUTDOWN }, undefined, () => undefined);
    else worker.process.kill('SIGTERM');
    const kill = setTimeout(() => {
      this.#opts.logger.warn({ worker: worker.process.pid }, 'worker did not drain in time; killing it');
      worker.process.kill('SIGKILL');
    }, this.#opts.shutdownTimeoutMs + KILL_GRACE_MS);
    await state.exited;
    clearTimeout(kill);
  }
}

/** A worker that cannot start tells the primary why, in one line, and prints nothing itself. */
export function reportStartFailure(message: string, exitCode: 1 | 2): void {
  process.send?.({ t: FAILED, message, exitCode });
}

/**
 * The worker's side: tells the primary it is ready, then serves until told to drain (a shutdown message,
 * SIGTERM, or the primary's death), drains within shutdownTimeoutMs, and resolves with the exit code.
 * SIGINT and SIGHUP reach every process of a terminal's group; only the primary acts on them.
 */
export async function serveAsWorker(app: App, shutdownTimeoutMs: number): Promise<number> {
  const ignore = (): void => undefined;
  process.on('SIGINT', ignore);
  process.on('SIGHUP', ignore);
  await new Promise<void>((resolve) => {
    process.on('message', (m: unknown) => {
      if (typeof m === 'object' && m !== null && (m as { t?: unknown }).t === SHUTDOWN) resolve();
    });
    process.once('SIGTERM', () => resolve());
    process.once('disconnect', () => resolve());
    process.send?.({ t: READY, url: app.url, version: app.service.startVersion });
  });
  app.logger.debug('draining');
  await app.drain(shutdownTimeoutMs);
  if (process.connected) process.disconnect();
  return 0;
}
