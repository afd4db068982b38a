// Prometheus metrics, created once at boot. Labels are low-cardinality (route template, status, tier,
// outcome; never the content key). The hot path only increments plain numbers: no label hashing or string
// building per request; prom-client formats them when /metrics is scraped.
import client from 'prom-client';
import { OUTCOMES, type Outcome } from '../content/read-result.ts';
import type { ContentObserver, StoreOp } from '../content/service.ts';
import type { Admission } from './admission.ts';
import type { PressureMonitor } from './pressure.ts';

export type Route = 'data' | 'content' | 'write' | 'bulk' | 'warm' | 'metrics' | 'healthz' | 'readyz' | 'dashboard' | 'other';
const ROUTES: readonly Route[] = ['data', 'content', 'write', 'bulk', 'warm', 'metrics', 'healthz', 'readyz', 'dashboard', 'other'];

export interface Metrics extends ContentObserver {
  readonly registry: client.Registry;
  /** Counts one finished request and its duration. */
  request(route: Route, status: number, seconds: number): void;
  memory(outcome: Outcome): void;
  inFlight: number;
  /** The text /metrics answers with: this registry's, or the whole instance's in a cluster worker. */
  scrape(): Promise<string>;
  /** Counts a record that could not be sent (answered 500). */
  unsendable(): void;
  /** Forgets everything counted so far (after the warm-up, which is not traffic). */
  reset(): void;
}

export interface MetricsOptions {
  logError: (what: string, err: unknown) => void;
  /** The scrape to use instead of reading this registry alone (a cluster worker asks the primary). */
  scrape?: () => Promise<string>;
  /** Unhandled promise rejections this process survived so far (its process guard's count). */
  unhandledRejections?: () => number;
}

export function createMetrics(opts: MetricsOptions): Metrics {
  const registry = new client.Registry();
  client.collectDefaultMetrics({ register: registry, prefix: 'floodgate_' });
  // Requests and their durations are counted into plain numbers on the hot path and handed to prom-client
  // when /metrics is scraped: measured, prom-client's per-call label hashing cost ~3 % of the cached read path.
  const BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2];
  interface RouteCounts { statuses: Map<number, number>; buckets: Float64Array; sum: number; count: number }
  const perRoute = new Map<Route, RouteCounts>(ROUTES.map((r) => [r, { statuses: new Map(), buckets: new Float64Array(BUCKETS.length + 1), sum: 0, count: 0 }]));
  new client.Counter({
    name: 'floodgate_http_requests_total',
    help: 'HTTP requests by route and status.',
    labelNames: ['route', 'status'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [route, c] of perRoute) for (const [status, n] of c.statuses) this.labels(route, String(status)).inc(n);
    },
  });
  registry.registerMetric({
    name: 'floodgate_http_request_duration_seconds',
    help: 'Time to produce the response, by route.',
    type: 'histogram',
    aggregator: 'sum',
    get() {
      const values: { labels: Record<string, string | number>; value: number; metricName: string }[] = [];
      for (const [route, c] of perRoute) {
        if (c.count === 0) continue;
        let cumulative = 0;
        BUCKETS.forEach((le, i) => {
          cumulative += c.buckets[i] ?? 0;
          values.push({ labels: { le, route }, value: cumulative, metricName: 'floodgate_http_request_duration_seconds_bucket' });
        });
        values.push({ labels: { le: '+Inf', route }, value: c.count, metricName: 'floodgate_http_request_duration_seconds_bucket' });
        values.push({ labels: { route }, value: c.sum, metricName: 'floodgate_http_request_duration_seconds_sum' });
        values.push({ labels: { route }, value: c.count, metricName: 'floodgate_http_request_duration_seconds_count' });
      }
      return { name: 'floodgate_http_request_duration_seconds', help: 'Time to produce the response, by route.', type: 'histogram', aggregator: 'sum', values };
    },
    reset() {
      for (const c of perRoute.values()) {
        c.buckets.fill(0);
        c.sum = 0;
        c.count = 0;
        c.statuses.clear();
      }
    },
  } as unknown as client.Metric);
  // Lookups by tier: plain counts on the hot path, handed over at scrape time like the requests.
  const lookupCounts = { memory: new Map<string, number>(OUTCOMES.map((o) => [o, 0])), redis: new Map<string, number>(['hit', 'miss', 'error', 'skipped'].map((o) => [o, 0])) };
  new client.Counter({
    name: 'floodgate_cache_lookups_total',
    help: 'Cache lookups by tier and outcome (hit, miss, stale, coalesced, error-stale; redis: hit, miss, error, skipped).',
    labelNames: ['tier', 'outcome'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [tier, counts] of Object.entries(lookupCounts)) for (const [outcome, n] of counts) this.labels(tier, outcome).inc(n);
    },
  });
  const storeQueries = new client.Counter({ name: 'floodgate_store_queries_total', help: 'Store calls by operation and result.', labelNames: ['op', 'result'], registers: [registry] });
  const storeDuration = new client.Histogram({ name: 'floodgate_store_query_duration_seconds', help: 'Store call latency by operation.', labelNames: ['op'], buckets: [0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 2.5], registers: [registry] });
  const unsendable = new client.Counter({ name: 'floodgate_unsendable_records_total', help: 'Stored records that could not be sent (their Content-Type is not a valid header value) and were answered 500.', registers: [registry] });
  const unhandled = opts.unhandledRejections;
  if (unhandled) {
    new client.Counter({
      name: 'floodgate_unhandled_rejections_total',
      help: 'Promise rejections nothing handled, logged and survived by the process guard (each one a bug to report).',
      registers: [registry],
      collect() {
        this.reset();
        this.inc(unhandled());
      },
    });
  }
  const background = new client.Counter({ name: 'floodgate_background_errors_total', help: 'Failures off the request path (Redis writes after commit, invalidation publishes).', labelNames: ['what'], registers: [registry] });


  const metrics: Metrics = {
    registry,
    inFlight: 0,
    scrape: opts.scrape ?? (() => registry.metrics()),
    reset() {
      for (const counts of Object.values(lookupCounts)) for (const outcome of counts.keys()) counts.set(outcome, 0);
      registry.resetMetrics(); // the request counts and histogram too (their reset), and every prom-client metric
    },
    request(route, status, seconds) {
      const c = perRoute.get(route);
      if (c === undefined) return;
      c.statuses.set(status, (c.statuses.get(status) ?? 0) + 1);
      let i = 0;
      while (i < BUCKETS.length && seconds > (BUCKETS[i] as number)) i++;
      c.buckets[i] = (c.buckets[i] ?? 0) + 1;
      c.sum += seconds;
      c.count++;
    },
    memory(outcome) {
      lookupCounts.memory.set(outcome, (lookupCounts.memory.get(outcome) ?? 0) + 1);
    },
    redis(outcome) {
      lookupCounts.redis.set(outcome, (lookupCounts.redis.get(outcome) ?? 0) + 1);
    },
    store(op: StoreOp, seconds: number, ok: boolean) {
      storeQueries.labels(op, ok ? 'ok' : 'error').inc();
      storeDuration.labels(op).observe(seconds);
    },
    unsendable() {
      unsendable.inc();
    },
    backgroundError(what, err) {
      background.labels(what).inc();
      opts.logError(what, err);
    },
  };
  new client.Gauge({ name: 'floodgate_http_requests_in_flight', help: 'Requests being answered right now.', registers: [registry], aggregator: 'sum', collect() { this.set(metrics.inFlight); } });
  new client.Gauge({ name: 'floodgate_worker_processes', help: 'Worker processes whose metrics this scrape adds up (1 outside `floodgate serve`).', registers: [registry], aggregator: 'sum', collect() { this.set(1); } });
  return metrics;
}

/** The gauges of admission control and pressure, read at scrape time. */
export function registerOverloadGauges(registry: client.Registry, admission: Admission, pressure: PressureMonitor): void {
  new client.Gauge({ name: 'floodgate_admission_in_flight', help: 'Reads waiting on Redis or the store, holding a slot.', registers: [registry], aggregator: 'sum', collect() { this.set(admission.inFlight); } });
  new client.Gauge({ name: 'floodgate_admission_queued', help: 'Reads waiting for a slot.', registers: [registry], aggregator: 'sum', collect() { this.set(admission.queued); } });
  new client.Gauge({ name: 'floodgate_event_loop_delay_seconds', help: 'How late the pressure sampler\'s 25 ms timer ran at its last sample; the worst worker.', registers: [registry], aggregator: 'max', collect() { this.set(pressure.last.eventLoopDelayMs / 1000); } });
  new client.Gauge({ name: 'floodgate_loop_wait_seconds', help: 'Longest time a memory miss waited for the event loop before it was read, since the last scrape; the worst worker.', registers: [registry], aggregator: 'max', collect() { this.set(pressure.takeLongestWait() / 1000); } });
  new client.Gauge({ name: 'floodgate_miss_admit_share', help: 'Share of memory misses let through to Redis or the store; below 1 while a standing queue is drained; the lowest worker.', registers: [registry], aggregator: 'min', collect() { this.set(pressure.admitShare); } });
  new client.Gauge({ name: 'floodgate_miss_seconds', help: 'Moving average of an admitted memory miss\'s time from read to answer; the worst worker.', registers: [registry], aggregator: 'max', collect() { this.set(pressure.missMs / 1000); } });
  new client.Gauge({
    name: 'floodgate_under_pressure',
    help: '1 while misses are answered degraded because of event-loop queueing (in the last 25 ms sample) or memory, by reason; 1 if any worker is.',
    labelNames: ['reason'],
    registers: [registry],
    aggregator: 'max',
    collect() {
      this.set({ reason: 'event-loop' }, pressure.shedLastSample > 0 ? 1 : 0);
      this.set({ reason: 'memory' }, pressure.reason === 'memory' ? 1 : 0);
    },
  });
}
