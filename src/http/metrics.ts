// Prometheus metrics, created once at boot. Labels are low-cardinality (route template, status, tier,
// outcome; never the content key), and the hot path reaches pre-resolved children: no label hashing or
// string building per request.
import client from 'prom-client';
import type { ContentObserver, StoreOp } from '../content/service.ts';
import type { Outcome } from '../tiers/memory.ts';

export type Route = 'data' | 'content' | 'write' | 'bulk' | 'metrics' | 'healthz' | 'readyz' | 'other';
const ROUTES: readonly Route[] = ['data', 'content', 'write', 'bulk', 'metrics', 'healthz', 'readyz', 'other'];
const OUTCOMES: readonly Outcome[] = ['hit', 'miss', 'stale', 'coalesced', 'error-stale'];

export interface Metrics extends ContentObserver {
  readonly registry: client.Registry;
  /** Counts one finished request and its duration. */
  request(route: Route, status: number, seconds: number): void;
  memory(outcome: Outcome): void;
  inFlight: number;
}

export function createMetrics(opts: { logError: (what: string, err: unknown) => void; gauges?: Record<string, () => number> }): Metrics {
  const registry = new client.Registry();
  client.collectDefaultMetrics({ register: registry, prefix: 'floodgate_' });
  const requests = new client.Counter({ name: 'floodgate_http_requests_total', help: 'HTTP requests by route and status.', labelNames: ['route', 'status'], registers: [registry] });
  const duration = new client.Histogram({
    name: 'floodgate_http_request_duration_seconds',
    help: 'Time to produce the response, by route.',
    labelNames: ['route'],
    buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2],
    registers: [registry],
  });
  const lookups = new client.Counter({ name: 'floodgate_cache_lookups_total', help: 'Cache lookups by tier and outcome (hit, miss, stale, coalesced, error-stale; redis: hit, miss, error, skipped).', labelNames: ['tier', 'outcome'], registers: [registry] });
  const storeQueries = new client.Counter({ name: 'floodgate_store_queries_total', help: 'Store calls by operation and result.', labelNames: ['op', 'result'], registers: [registry] });
  const storeDuration = new client.Histogram({ name: 'floodgate_store_query_duration_seconds', help: 'Store call latency by operation.', labelNames: ['op'], buckets: [0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 2.5], registers: [registry] });
  const background = new client.Counter({ name: 'floodgate_background_errors_total', help: 'Failures off the request path (Redis writes after commit, invalidation publishes).', labelNames: ['what'], registers: [registry] });

  const byRoute = new Map<Route, { children: Map<number, client.Counter.Internal>; hist: client.Histogram.Internal<string> }>();
  for (const r of ROUTES) byRoute.set(r, { children: new Map(), hist: duration.labels(r) });
  const memoryChildren = new Map<Outcome, client.Counter.Internal>(OUTCOMES.map((o) => [o, lookups.labels('memory', o)]));
  const redisChildren = new Map(['hit', 'miss', 'error', 'skipped'].map((o) => [o, lookups.labels('redis', o)]));

  const metrics: Metrics = {
    registry,
    inFlight: 0,
    request(route, status, seconds) {
      const r = byRoute.get(route);
      if (!r) return;
      let child = r.children.get(status);
      if (child === undefined) {
        child = requests.labels(route, String(status));
        r.children.set(status, child);
      }
      child.inc();
      r.hist.observe(seconds);
    },
    memory(outcome) {
      memoryChildren.get(outcome)?.inc();
    },
    redis(outcome) {
      redisChildren.get(outcome)?.inc();
    },
    store(op: StoreOp, seconds: number, ok: boolean) {
      storeQueries.labels(op, ok ? 'ok' : 'error').inc();
      storeDuration.labels(op).observe(seconds);
    },
    backgroundError(what, err) {
      background.labels(what).inc();
      opts.logError(what, err);
    },
  };
  new client.Gauge({ name: 'floodgate_http_requests_in_flight', help: 'Requests being answered right now.', registers: [registry], collect() { this.set(metrics.inFlight); } });
  for (const [name, read] of Object.entries(opts.gauges ?? {})) {
    new client.Gauge({ name, help: name.replaceAll('_', ' '), registers: [registry], collect() { this.set(read()); } });
  }
  return metrics;
}
