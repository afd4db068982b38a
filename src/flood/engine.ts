// The engine's entry point: prepares a run (request templates, DNS), starts one engine per thread (in this thread
// for --threads 1, in worker threads otherwise), merges their reports as they arrive and emits events: a
// completed second, a notice, and at the end the result. Presentation (progress line, tables, JSON, HTML) only
// ever sees these events and the result.
import { lookup } from 'node:dns/promises';
import { hostname } from 'node:os';
import { isIP } from 'node:net';
import { performance } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';
import { Aggregator } from './aggregate.ts';
import type { Endpoint } from './connection.ts';
import type { FloodConfig } from './options.ts';
import type { IntervalReport } from './recorder.ts';
import { buildRequestSpec, type RequestSpec, type Target } from './request.ts';
import { tally, type Counts, type FloodResult, type Scenario, type SecondEntry, type Stopped } from './result.ts';
import { Schedule } from './schedule.ts';
import { ThreadEngine, type ThreadPlan } from './thread.ts';
import { formatPercent } from './units.ts';

export interface Prepared {
  readonly config: FloodConfig;
  readonly target: Target;
  readonly request: RequestSpec;
  readonly endpoint: Endpoint;
  /** Set when the host name did not resolve: every request then fails as `dns`. */
  readonly dnsError: string | null;
}

/** Parses the request (templates, CSV files: usage errors surface here) and resolves the host once. */
export async function prepare(config: FloodConfig): Promise<Prepared> {
  const { target, spec } = buildRequestSpec({
    url: config.url,
    method: config.method,
    headers: config.headers,
    body: config.body ?? undefined,
    close: config.newConnection,
  });
  let address: string | null = target.hostname;
  let dnsError: string | null = null;
  if (isIP(target.hostname) === 0) {
    try {
      address = (await lookup(target.hostname)).address;
    } catch (err) {
      address = null;
      dnsError = `${target.hostname}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`;
    }
  }
  const endpoint: Endpoint = {
    tls: target.protocol === 'https:',
    address,
    port: target.port,
    servername: isIP(target.hostname) === 0 ? target.hostname : undefined,
    insecure: config.insecure,
    fresh: config.newConnection,
  };
  return { config, target, request: spec, endpoint, dnsError };
}

export interface FloodListener {
  /** A second of the run is complete (every thread reported it). */
  second?(entry: SecondEntry, live: { readonly counts: Counts; readonly p99: number; readonly elapsedMs: number }): void;
  /** Something the user should know while the run goes on (a bail, a DNS failure). */
  notice?(text: string): void;
}

interface ThreadHandle {
  start(startEpochMs: number): void;
  stop(): void;
  close(): Promise<void>;
}

export function scenarioOf(config: FloodConfig, target: Target, request: RequestSpec): Scenario {
  const { okTable: _okTable, bail: _bail, ...scenario } = config;
  return { ...scenario, url: target.url, method: request.method };
}

/** Splits -c over the threads: the first threads take the remainder. */
function connectionsOf(total: number, i: number, n: number): number {
  return Math.floor(total / n) + (i < total % n ? 1 : 0);
}

export class FloodRun {
  readonly done: Promise<FloodResult>;
  readonly #handles: ThreadHandle[] = [];
  #stopped: Stopped | null = null;
  #second = 0;

  constructor(prepared: Prepared, listener: FloodListener = {}) {
    this.done = this.#run(prepared, listener);
  }

  /** Stops sending; the result arrives once the requests in flight have ended. */
  stop(reason: Stopped['reason'] = 'interrupt', detail = 'stopped by the user'): void {
    if (this.#stopped) return;
    this.#stopped = { reason, second: this.#second, detail };
    for (const h of this.#handles) h.stop();
  }

  async #run(prepared: Prepared, listener: FloodListener): Promise<FloodResult> {
    const { config, endpoint, request, target } = prepared;
    if (prepared.dnsError) listener.notice?.(`DNS lookup failed (${prepared.dnsError}); every request will fail as 'dns'`);
    const open = config.model === 'open';
    const aggregator = new Aggregator(config.threads, open, open ? new Schedule(config.stages) : null);
    let finished!: () => void;
    let failed!: (err: Error) => void;
    const allFinal = new Promise<void>((resolve, reject) => {
      finished = resolve;
      failed = reject;
    });
    const startEpoch = { value: 0 };
    const onReport = (report: IntervalReport): void => {
      const seconds = aggregator.add(report);
      for (const entry of seconds) {
        this.#second = entry.second + 1;
        const live = aggregator.live();
        listener.second?.(entry, { ...live, elapsedMs: (entry.second + 1) * 1000 });
        this.#checkBail(entry, config.bail);
      }
      if (aggregator.allFinal) finished();
    };
    for (let t = 0; t < config.threads; t++) {
      const plan: ThreadPlan = {
        thread: t,
        threads: config.threads,
        endpoint,
        request,
        model: config.model,
        connections: open ? Math.max(1, Math.ceil(config.connections / config.threads)) : connectionsOf(config.connections, t, config.threads),
        stages: config.stages,
        think: config.thinkMs,
        durationMs: config.durationMs,
        requests: config.requests,
        timeoutMs: config.timeoutMs,
        ok: config.okTable,
      };
      this.#handles.push(config.threads === 1 ? inProcess(plan, onReport) : await inWorker(plan, onReport, failed));
    }
    startEpoch.value = performance.timeOrigin + performance.now() + (config.threads === 1 ? 1 : 25);
    for (const h of this.#handles) h.start(startEpoch.value);
    if (this.#stopped) for (const h of this.#handles) h.stop();
    try {
      await allFinal;
    } finally {
      await Promise.all(this.#handles.map((h) => h.close()));
    }
    const run = {
      host: hostname(),
      startedAt: Math.round(startEpoch.value),
      durationMs: 0,
      threads: config.threads,
      connections: config.connections,
      url: target.url,
    };
    return aggregator.finish(scenarioOf(config, target, request), run, this.#stopped);
  }

  #checkBail(entry: SecondEntry, bail: number | null): void {
    if (bail === null || this.#stopped) return;
    const t = tally(entry.counts);
    if (t.hits >= 10 && t.errorRate > bail) {
      this.stop('bail', `error rate ${formatPercent(t.errorRate)} in second ${entry.second + 1} exceeded --bail ${formatPercent(bail)}`);
    }
  }
}

/** Starts a run. */
export function startFlood(prepared: Prepared, listener?: FloodListener): FloodRun {
  return new FloodRun(prepared, listener);
}

function inProcess(plan: ThreadPlan, onReport: (r: IntervalReport) => void): ThreadHandle {
  const engine = new ThreadEngine(plan, onReport);
  return {
    start: (epoch) => engine.start(epoch - performance.timeOrigin),
    stop: () => engine.stop(),
    close: () => engine.done,
  };
}

async function inWorker(plan: ThreadPlan, onReport: (r: IntervalReport) => void, failed: (err: Error) => void): Promise<ThreadHandle> {
  const worker = new Worker(new URL('./worker.ts', import.meta.url), { workerData: { plan } });
  let final = false;
  await new Promise<void>((resolve, reject) => {
    worker.once('message', (m: { type: string }) => (m.type === 'ready' ? resolve() : reject(new Error(`worker said ${m.type}`))));
    worker.once('error', reject);
  });
  worker.on('message', (m: { type: string; report?: IntervalReport }) => {
    if (m.type === 'report' && m.report) {
      if (m.report.final) final = true;
      onReport(m.report);
    }
  });
  worker.on('error', (err) => failed(err));
  worker.on('exit', (code) => {
    if (!final) failed(new Error(`flood worker thread ${plan.thread} exited (code ${code}) before the end of the run`));
  });
  return {
    start: (epoch) => worker.postMessage({ type: 'start', epoch }),
    stop: () => worker.postMessage({ type: 'stop' }),
    close: async () => {
      await worker.terminate();
    },
  };
}
