// Prometheus metrics, created once at boot. Labels are low-cardinality (route template, method, configured
// collection, status, tier, outcome; never the content key, never a name a caller made up). The hot path only
// increments plain numbers: no label hashing or string building per request; prom-client formats them when
// /metrics is scraped.
import client from 'prom-client';
import { OUTCOMES, type Outcome } from '../content/read-result.ts';
import { DEFAULT_COLLECTION } from '../content/record.ts';
import type { ContentObserver, StoreOp } from '../content/service.ts';
import type { Admission } from './admission.ts';
import type { PressureMonitor } from './pressure.ts';

export type Route = 'data' | 'content' | 'write' | 'bulk' | 'warm' | 'metrics' | 'healthz' | 'readyz' | 'dashboard' | 'other';
const ROUTES: readonly Route[] = ['data', 'content', 'write', 'bulk', 'warm', 'metrics', 'healthz', 'readyz', 'dashboard', 'other'];

/** The label value of a method or collection that has none of its own: no real name can take it. */
export const OTHER_LABEL = '_other';
/** The methods that get a label value of their own; any other is counted as OTHER_LABEL. */
const METHODS = ['GET', 'HEAD', 'PUT', 'DELETE', 'POST', 'OPTIONS', 'PATCH'] as const;
/** Distinct status codes given a slot of their own (floodgate answers about twenty); any more share one. */
const MAX_STATUSES = 63;

export interface Metrics extends ContentObserver {
  readonly registry: client.Registry;
  /**
   * Counts one finished request and its duration. `collection` is the collection the URL named (data, content,
   * write and bulk routes; undefined for the others): a configured one is its own label value, any other name
   * is OTHER_LABEL, so callers cannot grow the series.
   */
  request(route: Route, method: string | undefined, collection: string | undefined, status: number, seconds: number): void;
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
  /** The configured collections, each its own label value on the request metrics (default: the default collection). */
  collections?: Iterable<string>;
}

/** The position of `route` in ROUTES (a switch: no array search on the hot path; the metrics test checks every route's name). */
function routeIndex(route: Route): number {
  switch (route) {
    case 'data': return 0;
    case 'content': return 1;
    case 'write': return 2;
    case 'bulk': return 3;
    case 'warm': return 4;
    case 'metrics': return 5;
    case 'healthz': return 6;
    case 'readyz': return 7;
    case 'dashboard': return 8;
    default: return 9;
  }
}

// A route added to ROUTES but not to routeIndex (or in another order) would count under another route's name.
for (const [i, r] of ROUTES.entries()) if (routeIndex(r) !== i) throw new Error(`metrics: routeIndex('${r}') is ${routeIndex(r)}, its place in ROUTES is ${i}`);

function methodIndex(method: string | undefined): number {
  switch (method) {
    case 'GET': return 0;
    case 'HEAD': return 1;
    case 'PUT': return 2;
    case 'DELETE': return 3;
    case 'POST': return 4;
    case 'OPTIONS': return 5;
    case 'PATCH': return 6;
    default: return METHODS.length;
  }
}

/** A histogram's counts in plain numbers: one count a bucket (the last is +Inf), their sum and count. */
interface Histogram { buckets: Float64Array; sum: number; count: number }
type HistogramValue = { labels: Record<string, string | number>; value: number; metricName: string };

/** floodgate_store_query_duration_seconds buckets (s). */
const STORE_BUCKETS = [0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 2.5];

/** Counts one observation of `seconds` into `h` (bounds `le` ascending; h.buckets has one more, for +Inf). */
function observe(h: Histogram, le: readonly number[], seconds: number): void {
  let b = 0;
  while (b < le.length && seconds > (le[b] as number)) b++;
  h.buckets[b] = (h.buckets[b] as number) + 1;
  h.sum += seconds;
  h.count++;
}

/** The exposition series of one labelled histogram (cumulative buckets, +Inf, sum, count) for a custom metric's get(). */
function histogramValues(values: HistogramValue[], name: string, le: readonly number[], h: Histogram, labels: Record<string, string>): void {
  if (h.count === 0) return;
  let cumulative = 0;
  le.forEach((bound, b) => {
    cumulative += h.buckets[b] ?? 0;
    values.push({ labels: { le: bound, ...labels }, value: cumulative, metricName: `${name}_bucket` });
  });
  values.push({ labels: { le: '+Inf', ...labels }, value: h.count, metricName: `${name}_bucket` });
  values.push({ labels, value: h.sum, metricName: `${name}_sum` });
  values.push({ labels, value: h.count, metricName: `${name}_count` });
}

export function createMetrics(opts: MetricsOptions): Metrics {
  const registry = new client.Registry();
  client.collectDefaultMetrics({ register: registry, prefix: 'floodgate_' });
  // Requests and their durations are counted into plain numbers on the hot path and handed to prom-client
  // when /metrics is scraped: measured, prom-client's per-call label hashing cost ~3 % of the cached read path.
  // One cell per (route, method, collection), found by index arithmetic: the route and method by a switch, the
  // collection by one Map look-up of the name the URL gave. A cell is made the first time it is used (a few
  // dozen in all), never per request; in it, a count per status slot and the histogram's buckets.
  const BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2];
  const collectionNames = [...new Set([DEFAULT_COLLECTION, ...(opts.collections ?? [])])];
  const collectionIndex = new Map(collectionNames.map((name, i) => [name, i]));
  const OTHER_COLLECTION = collectionNames.length;
  const NO_COLLECTION = OTHER_COLLECTION + 1;
  const collectionLabels = [...collectionNames, OTHER_LABEL];
  const methodLabels = [...METHODS, OTHER_LABEL];
  const NM = methodLabels.length;
  const NC = NO_COLLECTION + 1;
  interface Cell { readonly statuses: Float64Array; readonly buckets: Float64Array; sum: number; count: number }
  const cells: (Cell | undefined)[] = new Array<Cell | undefined>(ROUTES.length * NM * NC).fill(undefined);
  /** Status code → its slot (-1: none yet); slot → code. The last slot is shared by codes beyond MAX_STATUSES. */
  const statusSlot = new Int8Array(600).fill(-1);
  const statusCodes: number[] = [];
  const slotOf = (status: number): number => {
    if (!(status >= 0 && status < 600)) return MAX_STATUSES;
    let s = statusSlot[status] as number;
    if (s === -1) {
      s = statusCodes.length < MAX_STATUSES ? statusCodes.push(status) - 1 : MAX_STATUSES;
      statusSlot[status] = s;
    }
    return s;
  };
  /** The labels of a cell, in exposition order (route, method, collection where the route has one). */
  const labelsOf = (cell: number): Record<string, string> => {
    const c = cell % NC;
    const m = Math.floor(cell / NC) % NM;
    const route = ROUTES[Math.floor(cell / (NC * NM))] as Route;
    const labels: Record<string, string> = { route, method: methodLabels[m] as string };
    if (c !== NO_COLLECTION) labels.collection = collectionLabels[c] as string;
    return labels;
  };
  new client.Counter({
    name: 'floodgate_http_requests_total',
    help: 'HTTP requests by route, method, collection (configured ones; any other name is _other) and status.',
    labelNames: ['route', 'method', 'collection', 'status'],
    registers: [registry],
    collect() {
      this.reset();
      cells.forEach((c, i) => {
        if (c === undefined) return;
        const labels = labelsOf(i);
        c.statuses.forEach((n, slot) => {
          if (n > 0) this.inc({ ...labels, status: slot < statusCodes.length ? String(statusCodes[slot]) : OTHER_LABEL }, n);
        });
      });
    },
  });
  registry.registerMetric({
    name: 'floodgate_http_request_duration_seconds',
    help: 'Time to produce the response, by route, method and collection.',
    type: 'histogram',
    aggregator: 'sum',
    get() {
      const values: HistogramValue[] = [];
      cells.forEach((c, i) => {
        if (c !== undefined) histogramValues(values, 'floodgate_http_request_duration_seconds', BUCKETS, c, labelsOf(i));
      });
      return { name: 'floodgate_http_request_duration_seconds', help: 'Time to produce the response, by route, method and collection.', type: 'histogram', aggregator: 'sum', values };
    },
    reset() {
      for (const c of cells) {
        if (c === undefined) continue;
        c.statuses.fill(0);
        c.buckets.fill(0);
        c.sum = 0;
        c.count = 0;
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
  // Store calls: plain numbers a call (every cold read is one; prom-client's labels().inc() and observe() cost
  // 0.6 µs of it, measured on the SQLite miss path), handed to prom-client at scrape time like the requests.
  const storeCells = new Map<StoreOp, Histogram & { ok: number; error: number }>();
  new client.Counter({
    name: 'floodgate_store_queries_total', help: 'Store calls by operation and result.', labelNames: ['op', 'result'], registers: [registry],
    collect() {
      this.reset();
      for (const [op, c] of storeCells) {
        if (c.ok > 0) this.inc({ op, result: 'ok' }, c.ok);
        if (c.error > 0) this.inc({ op, result: 'error' }, c.error);
      }
    },
  });
  const STORE_HELP = 'Store call latency by operation.';
  registry.registerMetric({
    name: 'floodgate_store_query_duration_seconds', help: STORE_HELP, type: 'histogram', aggregator: 'sum',
    get() {
      const values: HistogramValue[] = [];
      for (const [op, c] of storeCells) histogramValues(values, 'floodgate_store_query_duration_seconds', STORE_BUCKETS, c, { op });
      return { name: 'floodgate_store_query_duration_seconds', help: STORE_HELP, type: 'histogram', aggregator: 'sum', values };
    },
    reset() {
      storeCells.clear();
    },
  } as unknown as client.Metric);
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
    request(route, method, collection, status, seconds) {
      const ci = collection === undefined ? NO_COLLECTION : (collectionIndex.get(collection) ?? OTHER_COLLECTION);
      const i = (routeIndex(route) * NM + methodIndex(method)) * NC + ci;
      let c = cells[i];
      if (c === undefined) cells[i] = c = { statuses: new Float64Array(MAX_STATUSES + 1), buckets: new Float64Array(BUCKETS.length + 1), sum: 0, count: 0 };
      const s = slotOf(status);
      c.statuses[s] = (c.statuses[s] as number) + 1;
      observe(c, BUCKETS, seconds);
    },
    memory(outcome) {
      lookupCounts.memory.set(outcome, (lookupCounts.memory.get(outcome) ?? 0) + 1);
    },
    redis(outcome) {
      lookupCounts.redis.set(outcome, (lookupCounts.redis.get(outcome) ?? 0) + 1);
    },
    store(op: StoreOp, seconds: number, ok: boolean) {
      let c = storeCells.get(op);
      if (c === undefined) storeCells.set(op, (c = { ok: 0, error: 0, buckets: new Float64Array(STORE_BUCKETS.length + 1), sum: 0, count: 0 }));
      if (ok) c.ok++;
      else c.error++;
      observe(c, STORE_BUCKETS, seconds);
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
