// What /dashboard draws, one frame per second: two consecutive readings of every worker's own metrics (the
// JSON prom-client gives, gathered through the primary) turned into per-second rates, latency percentiles of
// the reads answered in between, gauges, and a one-line verdict (healthy / shedding / degraded: which
// dependency). Pure functions over the metric objects: no clock, no I/O.
import type { MetricObjectWithValues, MetricValue } from 'prom-client';

type Metric = MetricObjectWithValues<MetricValue<string>>;

/** One worker's cumulative counters and gauges at one moment. */
export interface Reading {
  readonly pid: number;
  /** Requests by status class ('2xx' …), every route. */
  readonly statuses: Record<string, number>;
  /** Reads (data and content routes): cumulative bucket counts by upper bound (s), +Inf last. */
  readonly readBuckets: { le: number; n: number }[];
  readonly memory: Record<string, number>;
  readonly redis: Record<string, number>;
  /** Degraded answers by "answer reason". */
  readonly degraded: Record<string, number>;
  readonly busySeconds: number;
  readonly eventLoopDelayS: number;
  readonly rss: number;
  readonly heap: number;
  readonly rssMax: number;
  readonly heapMax: number;
  readonly pool: { size: number; busy: number; waiting: number } | undefined;
  /** Dependency name → 1 up, 0 down. */
  readonly up: Record<string, number>;
  readonly connections: number;
  readonly inFlight: number;
  readonly underPressure: boolean;
}

export interface WorkerRow {
  readonly pid: number;
  readonly rps: number;
  readonly p99Ms: number | null;
  readonly eventLoopDelayMs: number;
  readonly utilization: number | null;
  readonly rss: number;
  readonly rssMax: number;
  readonly heap: number;
  readonly heapMax: number;
  readonly connections: number;
  readonly poolBusy: number | null;
  readonly poolWaiting: number | null;
}

export type HealthState = 'healthy' | 'shedding' | 'degraded';

export interface Frame {
  /** Clock time of the later reading, ms. */
  readonly t: number;
  readonly workers: WorkerRow[];
  /** Requests per second by status class. */
  readonly rps: Record<'2xx' | '3xx' | '4xx' | '5xx', number>;
  readonly p50Ms: number | null;
  readonly p99Ms: number | null;
  /** Share of memory-tier lookups answered from memory (hit, stale, coalesced count as answered), null without lookups. */
  readonly memoryHitRatio: number | null;
  /** Share of Redis lookups that hit, null without any. */
  readonly redisHitRatio: number | null;
  /** Degraded answers per second by "answer reason" (nonzero ones only). */
  readonly degraded: Record<string, number>;
  /** The worst worker's event-loop delay, ms. */
  readonly eventLoopDelayMs: number;
  /** Mean utilisation over workers (0..1), null when not measurable yet. */
  readonly utilization: number | null;
  readonly rss: number;
  readonly rssMax: number;
  readonly heap: number;
  readonly heapMax: number;
  readonly pool: { size: number; busy: number; waiting: number } | null;
  readonly connections: number;
  readonly inFlight: number;
  /** 'up', 'down' or 'absent' (not configured) for the store and Redis. */
  readonly dependencies: { store: 'up' | 'down' | 'absent'; redis: 'up' | 'down' | 'absent' };
  readonly health: { state: HealthState; text: string };
}

const CLASSES = ['2xx', '3xx', '4xx', '5xx'] as const;
const READ_ROUTES = new Set(['data', 'content']);

function find(metrics: readonly Metric[], name: string): Metric | undefined {
  return metrics.find((m) => m.name === name);
}

function gauge(metrics: readonly Metric[], name: string, labels: Record<string, string> = {}): number {
  const m = find(metrics, name);
  const v = m?.values.find((x) => Object.entries(labels).every(([k, want]) => String(x.labels[k]) === want));
  return v?.value ?? 0;
}

/** A worker's reading from its metrics JSON. */
export function readingOf(pid: number, metrics: readonly Metric[]): Reading {
  const statuses: Record<string, number> = {};
  for (const v of find(metrics, 'floodgate_http_requests_total')?.values ?? []) {
    const cls = `${String(v.labels.status).charAt(0)}xx`;
    statuses[cls] = (statuses[cls] ?? 0) + v.value;
  }
  const byLe = new Map<number, number>();
  for (const v of find(metrics, 'floodgate_http_request_duration_seconds')?.values ?? []) {
    if ((v as { metricName?: string }).metricName !== 'floodgate_http_request_duration_seconds_bucket' || !READ_ROUTES.has(String(v.labels.route))) continue;
    const le = v.labels.le === '+Inf' ? Infinity : Number(v.labels.le);
    byLe.set(le, (byLe.get(le) ?? 0) + v.value);
  }
  const lookups = (tier: string): Record<string, number> => {
    const out: Record<string, number> = {};
    for (const v of find(metrics, 'floodgate_cache_lookups_total')?.values ?? []) if (v.labels.tier === tier) out[String(v.labels.outcome)] = v.value;
    return out;
  };
  const degraded: Record<string, number> = {};
  for (const v of find(metrics, 'floodgate_degraded_total')?.values ?? []) degraded[`${String(v.labels.answer)} ${String(v.labels.reason)}`] = v.value;
  const up: Record<string, number> = {};
  for (const v of find(metrics, 'floodgate_dependency_up')?.values ?? []) up[String(v.labels.dependency)] = v.value;
  const poolMetric = find(metrics, 'floodgate_store_pool_connections');
  return {
    pid,
    statuses,
    readBuckets: [...byLe].sort((a, b) => a[0] - b[0]).map(([le, n]) => ({ le, n })),
    memory: lookups('memory'),
    redis: lookups('redis'),
    degraded,
    busySeconds: gauge(metrics, 'floodgate_event_loop_busy_seconds_total'),
    eventLoopDelayS: gauge(metrics, 'floodgate_event_loop_delay_seconds'),
    rss: gauge(metrics, 'floodgate_process_resident_memory_bytes'),
    heap: gauge(metrics, 'floodgate_nodejs_heap_size_used_bytes'),
    rssMax: gauge(metrics, 'floodgate_memory_watermark_bytes', { kind: 'rss' }),
    heapMax: gauge(metrics, 'floodgate_memory_watermark_bytes', { kind: 'heap' }),
    pool: poolMetric
      ? { size: gauge(metrics, 'floodgate_store_pool_connections', { state: 'size' }), busy: gauge(metrics, 'floodgate_store_pool_connections', { state: 'busy' }), waiting: gauge(metrics, 'floodgate_store_pool_connections', { state: 'waiting' }) }
      : undefined,
    up,
    connections: gauge(metrics, 'floodgate_open_connections'),
    inFlight: gauge(metrics, 'floodgate_http_requests_in_flight'),
    underPressure: (find(metrics, 'floodgate_under_pressure')?.values ?? []).some((v) => v.value > 0),
  };
}

/** A counter's growth; a counter that went down (a reset) counts from zero. */
const grew = (now: number, before: number | undefined): number => (before === undefined || now < before ? now : now - before);

function sumRecords(now: Record<string, number>, before: Record<string, number> | undefined, into: Record<string, number>): void {
  for (const [k, v] of Object.entries(now)) into[k] = (into[k] ?? 0) + grew(v, before?.[k]);
}

/** The q-quantile (0..1) of the observations in bucket counts (cumulative), interpolated within a bucket like histogram_quantile. */
export function quantile(q: number, buckets: readonly { le: number; n: number }[]): number | null {
  const total = buckets.at(-1)?.n ?? 0;
  if (total <= 0) return null;
  const rank = q * total;
  let prevLe = 0;
  let prevN = 0;
  for (const { le, n } of buckets) {
    if (n >= rank) {
      if (le === Infinity) return prevLe;
      const inBucket = n - prevN;
      return inBucket <= 0 ? le : prevLe + ((le - prevLe) * (rank - prevN)) / inBucket;
    }
    prevLe = le;
    prevN = n;
  }
  return prevLe;
}

function bucketDelta(now: Reading, before: Reading | undefined): { le: number; n: number }[] {
  const prev = new Map(before?.readBuckets.map((b) => [b.le, b.n]));
  return now.readBuckets.map(({ le, n }) => ({ le, n: grew(n, prev.get(le)) }));
}

function addBuckets(into: Map<number, number>, buckets: readonly { le: number; n: number }[]): void {
  for (const { le, n } of buckets) into.set(le, (into.get(le) ?? 0) + n);
}

const ms = (s: number | null): number | null => (s === null ? null : s * 1000);

/**
 * The frame between two readings of every worker, `seconds` apart. A worker with no earlier reading (just
 * started) contributes its gauges and no rates.
 */
export function frameOf(t: number, seconds: number, now: readonly Reading[], before: ReadonlyMap<number, Reading>): Frame {
  const per = (n: number): number => (seconds > 0 ? n / seconds : 0);
  const statuses: Record<string, number> = {};
  const memory: Record<string, number> = {};
  const redis: Record<string, number> = {};
  const degraded: Record<string, number> = {};
  const allBuckets = new Map<number, number>();
  const workers: WorkerRow[] = [];
  const up: Record<string, number> = {};
  let utilSum = 0;
  let utilN = 0;
  const poolSum = { size: 0, busy: 0, waiting: 0 };
  let pooled = false;
  for (const r of now) {
    const b = before.get(r.pid);
    const ws: Record<string, number> = {};
    if (b) {
      sumRecords(r.statuses, b.statuses, ws);
      sumRecords(r.memory, b.memory, memory);
      sumRecords(r.redis, b.redis, redis);
      sumRecords(r.degraded, b.degraded, degraded);
    }
    sumRecords(ws, undefined, statuses);
    const buckets = b ? bucketDelta(r, b) : [];
    addBuckets(allBuckets, buckets);
    const utilization = b && seconds > 0 ? Math.min(1, Math.max(0, grew(r.busySeconds, b.busySeconds) / seconds)) : null;
    if (utilization !== null) {
      utilSum += utilization;
      utilN++;
    }
    if (r.pool) {
      pooled = true;
      poolSum.size += r.pool.size;
      poolSum.busy += r.pool.busy;
      poolSum.waiting += r.pool.waiting;
    }
    for (const [dep, v] of Object.entries(r.up)) up[dep] = Math.min(up[dep] ?? 1, v);
    workers.push({
      pid: r.pid,
      rps: per(Object.values(ws).reduce((a, n) => a + n, 0)),
      p99Ms: ms(quantile(0.99, buckets)),
      eventLoopDelayMs: r.eventLoopDelayS * 1000,
      utilization,
      rss: r.rss,
      rssMax: r.rssMax,
      heap: r.heap,
      heapMax: r.heapMax,
      connections: r.connections,
      poolBusy: r.pool?.busy ?? null,
      poolWaiting: r.pool?.waiting ?? null,
    });
  }
  const buckets = [...allBuckets].sort((a, b) => a[0] - b[0]).map(([le, n]) => ({ le, n }));
  const memoryAll = Object.values(memory).reduce((a, n) => a + n, 0);
  const memoryAnswered = (memory.hit ?? 0) + (memory.stale ?? 0) + (memory.coalesced ?? 0);
  const redisAsked = (redis.hit ?? 0) + (redis.miss ?? 0) + (redis.error ?? 0) + (redis.skipped ?? 0);
  const degradedRates: Record<string, number> = {};
  for (const [k, n] of Object.entries(degraded)) if (n > 0) degradedRates[k] = per(n);
  const dep = (name: string): 'up' | 'down' | 'absent' => (up[name] === undefined ? 'absent' : up[name] === 1 ? 'up' : 'down');
  const dependencies = { store: dep('store'), redis: dep('redis') };
  const rps = { '2xx': 0, '3xx': 0, '4xx': 0, '5xx': 0 };
  for (const c of CLASSES) rps[c] = per(statuses[c] ?? 0);
  const base = {
    t,
    workers,
    rps,
    p50Ms: ms(quantile(0.5, buckets)),
    p99Ms: ms(quantile(0.99, buckets)),
    memoryHitRatio: memoryAll > 0 ? memoryAnswered / memoryAll : null,
    redisHitRatio: redisAsked > 0 ? (redis.hit ?? 0) / redisAsked : null,
    degraded: degradedRates,
    eventLoopDelayMs: Math.max(0, ...now.map((r) => r.eventLoopDelayS * 1000)),
    utilization: utilN > 0 ? utilSum / utilN : null,
    rss: now.reduce((a, r) => a + r.rss, 0),
    rssMax: now.reduce((a, r) => a + r.rssMax, 0),
    heap: now.reduce((a, r) => a + r.heap, 0),
    heapMax: now.reduce((a, r) => a + r.heapMax, 0),
    pool: pooled ? poolSum : null,
    connections: now.reduce((a, r) => a + r.connections, 0),
    inFlight: now.reduce((a, r) => a + r.inFlight, 0),
    dependencies,
  };
  return { ...base, health: healthOf(base, now.some((r) => r.underPressure), per(redis.error ?? 0) + per(redis.skipped ?? 0)) };
}

/** The one line: degraded (which dependency) over shedding over healthy; both named when both hold. */
export function healthOf(f: Pick<Frame, 'degraded' | 'dependencies'>, underPressure: boolean, redisFailingPerS: number): { state: HealthState; text: string } {
  const down: string[] = [];
  let storeErrors = 0;
  let shed = 0;
  const reasons = new Set<string>();
  for (const [k, n] of Object.entries(f.degraded)) {
    const reason = k.slice(k.indexOf(' ') + 1);
    if (reason === 'store-error') storeErrors += n;
    else {
      shed += n;
      reasons.add(reason);
    }
  }
  if (f.dependencies.store === 'down' || storeErrors > 0) down.push('the store is failing: reads are answered stale, with the fallback, or 503');
  if (f.dependencies.redis === 'down') down.push('Redis is not answering: reads skip it');
  else if (f.dependencies.redis === 'up' && redisFailingPerS > 0) down.push(`Redis lookups are failing (${redisFailingPerS.toFixed(0)}/s): reads skip it`);
  const shedding = shed > 0 || underPressure;
  const shedText = shed > 0 ? `shedding ${shed.toFixed(0)} reads/s (${[...reasons].join(', ')})` : 'shedding: under pressure';
  if (down.length > 0) return { state: 'degraded', text: `Degraded: ${down.join('; ')}${shedding ? `; ${shedText}` : ''}` };
  if (shedding) return { state: 'shedding', text: `Shedding: ${shedText.replace(/^shedding:? /, '')}` };
  return { state: 'healthy', text: 'Healthy: every dependency answers, nothing shed' };
}
