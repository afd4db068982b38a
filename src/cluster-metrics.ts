// One /metrics for the whole `floodgate serve`, whichever worker the scrape lands on. The workers share one
// listening socket, so a scraper reaches a different worker each time; per-worker counters would jump up and
// down between scrapes (Prometheus would read each drop as a counter reset). Instead the worker that gets
// the scrape asks the primary, and the primary gathers every worker's registry with prom-client's
// AggregatorRegistry (counters and histograms summed; gauges by the aggregator each one declares).
import cluster, { type Worker } from 'node:cluster';
import client from 'prom-client';
import { HttpError, RETRY_AFTER_S } from './http/errors.ts';

const REQUEST = 'floodgate:metrics';
const ANSWER = 'floodgate:metrics-answer';
/** prom-client gives up on a silent worker after 5 s; a worker gives up on a silent primary a little later. */
const WORKER_WAIT_MS = 6000;

interface MetricsRequest {
  readonly t: typeof REQUEST;
  readonly id: number;
}
interface MetricsAnswer {
  readonly t: typeof ANSWER;
  readonly id: number;
  readonly text?: string;
  readonly error?: string;
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
  return (worker, m) => {
    const reply = (answer: Omit<MetricsAnswer, 't' | 'id'>): void => {
      if (worker.isConnected()) worker.send({ t: ANSWER, id: m.id, ...answer } satisfies MetricsAnswer, undefined, () => undefined);
    };
    aggregator.clusterMetrics().then(
      (text) => reply({ text }),
      (err: unknown) => reply({ error: err instanceof Error ? err.message : String(err) }),
    );
  };
}

/**
 * The worker's side: answers the primary's requests for this worker's metrics (with none until offerMetrics,
 * so that a worker still starting, its warm-up included, is not counted) and returns the scrape /metrics
 * uses, which asks the primary for the whole instance's metrics.
 */
export function scrapeThroughPrimary(): () => Promise<string> {
  client.AggregatorRegistry.setRegistries([]);
  new client.AggregatorRegistry(); // installs the answer to the primary's requests
  const waiting = new Map<number, { resolve: (text: string) => void; reject: (err: Error) => void; timer: NodeJS.Timeout }>();
  let next = 0;
  const unavailable = (why: string): HttpError => new HttpError('FG_ERR_METRICS_UNAVAILABLE', `The metrics of every worker could not be gathered (${why}); retry.`, { 'Retry-After': RETRY_AFTER_S });
  process.on('message', (m: unknown) => {
    if (!isMessage<MetricsAnswer>(m, ANSWER)) return;
    const w = waiting.get(m.id);
    if (w === undefined) return;
    waiting.delete(m.id);
    clearTimeout(w.timer);
    if (typeof m.text === 'string') w.resolve(m.text);
    else w.reject(unavailable(m.error ?? 'no answer'));
  });
  return () =>
    new Promise<string>((resolve, reject) => {
      if (!cluster.isWorker || !process.connected || process.send === undefined) {
        reject(unavailable('the supervisor is gone'));
        return;
      }
      const id = next++;
      const timer = setTimeout(() => {
        waiting.delete(id);
        reject(unavailable(`no answer within ${WORKER_WAIT_MS} ms`));
      }, WORKER_WAIT_MS);
      waiting.set(id, { resolve, reject, timer });
      process.send({ t: REQUEST, id } satisfies MetricsRequest, undefined, undefined, (err: Error | null) => {
        if (err === null || !waiting.delete(id)) return;
        clearTimeout(timer);
        reject(unavailable(err.message));
      });
    });
}

/** From now on this worker's metrics are part of every scrape (call once it listens). */
export function offerMetrics(registry: client.Registry): void {
  client.AggregatorRegistry.setRegistries([registry]);
}
