// One /metrics for the whole `floodgate serve`, whichever worker the scrape lands on. The workers share one
// listening socket, so a scraper reaches a different worker each time; per-worker counters would jump up and
// down between scrapes (Prometheus would read each drop as a counter reset). Instead the worker that gets
// the scrape asks the primary, and the primary gathers every worker's registry with prom-client's
// AggregatorRegistry (counters and histograms summed; gauges by the aggregator each one declares).
// The same path also hands back every worker's metrics side by side (perWorker), for /dashboard's per-worker rows.
import cluster, { type Worker } from 'node:cluster';
import client from 'prom-client';
import { HttpError, RETRY_AFTER_S } from './http/errors.ts';

const REQUEST = 'floodgate:metrics';
const ANSWER = 'floodgate:metrics-answer';
/** prom-client gives up on a silent worker after 5 s; a worker gives up on a silent primary a little later. */
const WORKER_WAIT_MS = 6000;

/** The primary asks one worker for its own metrics (JSON), and the worker answers. */
const WORKER_REQUEST = 'floodgate:worker-metrics';
const WORKER_ANSWER = 'floodgate:worker-metrics-answer';
/** How long the primary waits for a worker's own metrics before leaving that worker out of the answer. */
const PER_WORKER_WAIT_MS = 2000;

/** One worker's own metrics, as prom-client's getMetricsAsJSON() gives them. */
export interface WorkerMetrics {
  /** The worker's process id. */
  readonly pid: number;
  readonly metrics: client.MetricObjectWithValues<client.MetricValue<string>>[];
}

interface MetricsRequest {
  readonly t: typeof REQUEST;
  readonly id: number;
  /** Every worker's metrics side by side instead of the aggregated text. */
  readonly perWorker?: boolean;
}
interface MetricsAnswer {
  readonly t: typeof ANSWER;
  readonly id: number;
  readonly text?: string;
  readonly workers?: WorkerMetrics[];
  readonly error?: string;
}
interface WorkerRequest {
  readonly t: typeof WORKER_REQUEST;
  readonly id: number;
}
interface WorkerAnswer {
  readonly t: typeof WORKER_ANSWER;
  readonly id: number;
  readonly metrics: WorkerMetrics['metrics'][];
}

function isMessage<T extends { t: string }>(m: unknown, t: T['t']): m is T {
  return typeof m === 'object' && m !== null && (m as { t?: unknown }).t === t && typeof (m as { id?: unknown }).id === 'number';
}

/** Whether a worker's message asks for the instance's metrics. */
export function isMetricsRequest(m: unknown): m is MetricsRequest {
  return isMessage<MetricsRequest>(m, REQUEST);
}

/** The primary's side: answers a worker's metrics request with the metrics of every connected worker, aggregated. */
export function metricsForWorkers(): (worker: Worker, m: MetricsRequest) => void {
  const aggregator = new client.AggregatorRegistry();
  const perWorker = perWorkerCollector();
  return (worker, m) => {
    const reply = (answer: Omit<MetricsAnswer, 't' | 'id'>): void => {
      if (worker.isConnected()) worker.send({ t: ANSWER, id: m.id, ...answer } satisfies MetricsAnswer, undefined, () => undefined);
    };
    if (m.perWorker === true) {
      perWorker().then((workers) => reply({ workers }), (err: unknown) => reply({ error: err instanceof Error ? err.message : String(err) }));
      return;
    }
    aggregator.clusterMetrics().then(
      (text) => reply({ text }),
      (err: unknown) => reply({ error: err instanceof Error ? err.message : String(err) }),
    );
  };
}

/** The primary's side of perWorker: asks every connected worker for its own metrics, waits up to PER_WORKER_WAIT_MS. */
function perWorkerCollector(): () => Promise<WorkerMetrics[]> {
  let next = 0;
  const waiting = new Map<number, (w: Worker, m: WorkerAnswer) => void>();
  cluster.on('message', (w: Worker, m: unknown) => {
    if (isMessage<WorkerAnswer>(m, WORKER_ANSWER)) waiting.get(m.id)?.(w, m);
  });
  return () =>
    new Promise<WorkerMetrics[]>((resolve) => {
      const id = next++;
      const workers = Object.values(cluster.workers ?? {}).filter((w): w is Worker => w !== undefined && w.isConnected());
      const answers: WorkerMetrics[] = [];
      let pending = workers.length;
      const done = (): void => {
        waiting.delete(id);
        clearTimeout(timer);
        resolve(answers.sort((a, b) => a.pid - b.pid));
      };
      const timer = setTimeout(done, PER_WORKER_WAIT_MS);
      waiting.set(id, (w, m) => {
        // A worker still starting offers no registry yet and is left out, as in the aggregated scrape.
        for (const metrics of m.metrics) answers.push({ pid: w.process.pid ?? 0, metrics });
        if (--pending === 0) done();
      });
      if (pending === 0) done();
      for (const w of workers) w.send({ t: WORKER_REQUEST, id } satisfies WorkerRequest, undefined, () => undefined);
    });
}

/**
 * The worker's side: answers the primary's requests for this worker's metrics (with none until offerMetrics,
 * so that a worker still starting, its warm-up included, is not counted) and returns the scrape /metrics
 * uses, which asks the primary for the whole instance's metrics.
 */
export function scrapeThroughPrimary(): () => Promise<string> {
  const ask = askPrimary();
  return () => ask(false).then((m) => {
    if (typeof m.text === 'string') return m.text;
    throw unavailable(m.error ?? 'no answer');
  });
}

/** The worker's side of perWorker: every worker's own metrics, through the primary (for /dashboard). */
export function workerMetricsThroughPrimary(): () => Promise<WorkerMetrics[]> {
  const ask = askPrimary();
  return () => ask(true).then((m) => {
    if (Array.isArray(m.workers)) return m.workers;
    throw unavailable(m.error ?? 'no answer');
  });
}

const unavailable = (why: string): HttpError => new HttpError('FG_ERR_METRICS_UNAVAILABLE', `The metrics of every worker could not be gathered (${why}); retry.`, { 'Retry-After': RETRY_AFTER_S });

/** This worker's offered registry (none until offerMetrics), for the primary's perWorker requests. */
let offered: client.Registry | undefined;
let asker: ((perWorker: boolean) => Promise<MetricsAnswer>) | undefined;

/** The worker's request/answer channel to the primary, installed once per process. */
function askPrimary(): (perWorker: boolean) => Promise<MetricsAnswer> {
  if (asker) return asker;
  client.AggregatorRegistry.setRegistries([]);
  new client.AggregatorRegistry(); // installs the answer to the primary's requests
  const waiting = new Map<number, { resolve: (m: MetricsAnswer) => void; timer: NodeJS.Timeout }>();
  let next = 0;
  process.on('message', (m: unknown) => {
    if (isMessage<WorkerRequest>(m, WORKER_REQUEST)) {
      const registry = offered;
      (registry ? registry.getMetricsAsJSON() : Promise.resolve(undefined)).then(
        (metrics) => process.send?.({ t: WORKER_ANSWER, id: m.id, metrics: metrics ? [metrics] : [] } satisfies WorkerAnswer, undefined, undefined, () => undefined),
        () => process.send?.({ t: WORKER_ANSWER, id: m.id, metrics: [] } satisfies WorkerAnswer, undefined, undefined, () => undefined),
      );
      return;
    }
    if (!isMessage<MetricsAnswer>(m, ANSWER)) return;
    const w = waiting.get(m.id);
    if (w === undefined) return;
    waiting.delete(m.id);
    clearTimeout(w.timer);
    w.resolve(m);
  });
  asker = (perWorker) =>
    new Promise<MetricsAnswer>((resolve, reject) => {
      if (!cluster.isWorker || !process.connected || process.send === undefined) {
        reject(unavailable('the supervisor is gone'));
        return;
      }
      const id = next++;
      const timer = setTimeout(() => {
        waiting.delete(id);
        reject(unavailable(`no answer within ${WORKER_WAIT_MS} ms`));
      }, WORKER_WAIT_MS);
      waiting.set(id, { resolve, timer });
      process.send({ t: REQUEST, id, ...(perWorker ? { perWorker } : {}) } satisfies MetricsRequest, undefined, undefined, (err: Error | null) => {
        if (err === null || !waiting.delete(id)) return;
        clearTimeout(timer);
        reject(unavailable(err.message));
      });
    });
  return asker;
}

/** From now on this worker's metrics are part of every scrape (call once it listens). */
export function offerMetrics(registry: client.Registry): void {
  client.AggregatorRegistry.setRegistries([registry]);
  offered = registry;
}
