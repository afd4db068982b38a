// Gauges of the whole process that /dashboard and the Grafana dashboard show next to the request counts: open
// connections, event-loop busy time, the memory watermarks, the store pool (whether each dependency answers is
// floodgate_dependency_up, app.ts). All read at scrape time (nothing on the request path); in a cluster each is
// summed by the primary's aggregation like every other metric.
import { performance } from 'node:perf_hooks';
import client from 'prom-client';

export interface ServerGaugeDeps {
  readonly connections: () => number;
  readonly limits: { readonly maxHeapBytes: number; readonly maxRssBytes: number };
  /** The store's pool, where it has one (PostgreSQL): connections at most, in use, calls waiting for one. */
  readonly pool?: () => { size: number; busy: number; waiting: number };
}

export function registerServerGauges(registry: client.Registry, deps: ServerGaugeDeps): void {
  new client.Gauge({ name: 'floodgate_open_connections', help: 'Client connections open right now (keep-alive included).', registers: [registry], aggregator: 'sum', collect() { this.set(deps.connections()); } });
  new client.Counter({
    name: 'floodgate_event_loop_busy_seconds_total',
    help: 'Time the event loop spent busy since start; rate() of it is the loop\'s utilisation (0..1 per worker).',
    registers: [registry],
    collect() {
      this.reset();
      this.inc(performance.eventLoopUtilization().active / 1000);
    },
  });
  new client.Gauge({
    name: 'floodgate_memory_watermark_bytes',
    help: 'Memory above which misses are answered degraded (--max-rss, --max-heap), by kind (rss, heap); summed over workers like the usage.',
    labelNames: ['kind'],
    registers: [registry],
    aggregator: 'sum',
    collect() {
      this.set({ kind: 'rss' }, deps.limits.maxRssBytes);
      this.set({ kind: 'heap' }, deps.limits.maxHeapBytes);
    },
  });
  const pool = deps.pool;
  if (pool) {
    new client.Gauge({
      name: 'floodgate_store_pool_connections',
      help: 'The store\'s connection pool (PostgreSQL), by state: size (at most), busy (running a call), waiting (calls queued for a connection).',
      labelNames: ['state'],
      registers: [registry],
      aggregator: 'sum',
      collect() {
        const p = pool();
        this.set({ state: 'size' }, p.size);
        this.set({ state: 'busy' }, p.busy);
        this.set({ state: 'waiting' }, p.waiting);
      },
    });
  }
}

/** How far behind the store's change feed is (store/ answers it: ChangeFeed.behind); seconds and versions. */
export type FeedLagSource = () => Promise<{ seconds: number; versions: number }>;

/** A scrape waits this long for the store's answer; past it the two series are left out of that scrape. */
const FEED_LAG_TIMEOUT_MS = 1000;
/** One question to the store a second at most, however many scrapes (Prometheus, /dashboard) ask. */
const FEED_LAG_REUSE_MS = 1000;

/**
 * floodgate_change_feed_lag_seconds and floodgate_change_feed_versions_behind, asked of the store at scrape time
 * (one query of index probes, at most once a second, reused by both). Left out of a scrape (HELP and TYPE only)
 * while the store does not answer within a second: floodgate_dependency_up says why.
 */
export function registerChangeFeedGauges(registry: client.Registry, behind: FeedLagSource, now: () => number = () => performance.now()): void {
  let last: { at: number; lag: { seconds: number; versions: number } | undefined } | undefined;
  let asking: Promise<{ seconds: number; versions: number } | undefined> | undefined;
  const read = (): Promise<{ seconds: number; versions: number } | undefined> => {
    if (last !== undefined && now() - last.at < FEED_LAG_REUSE_MS) return Promise.resolve(last.lag);
    asking ??= new Promise<{ seconds: number; versions: number } | undefined>((resolve) => {
      const timer = setTimeout(() => resolve(undefined), FEED_LAG_TIMEOUT_MS);
      behind().then(
        (lag) => resolve(lag),
        () => resolve(undefined),
      ).finally(() => clearTimeout(timer));
    }).then((lag) => {
      last = { at: now(), lag };
      asking = undefined;
      return lag;
    });
    return asking;
  };
  const gauge = (name: string, help: string, pick: (lag: { seconds: number; versions: number }) => number): void => {
    registry.registerMetric({
      name,
      help,
      type: 'gauge',
      aggregator: 'max',
      async get() {
        const lag = await read();
        return { name, help, type: 'gauge', aggregator: 'max', values: lag === undefined ? [] : [{ labels: {}, value: pick(lag) }] };
      },
      reset() {},
    } as unknown as client.Metric);
  };
  gauge(
    'floodgate_change_feed_lag_seconds',
    'How far behind the store\'s change feed is: seconds since the oldest change this process has not yet applied was written (its transaction\'s start, in PostgreSQL\'s clock); 0 when caught up; the worst worker.',
    (lag) => lag.seconds,
  );
  gauge(
    'floodgate_change_feed_versions_behind',
    'Versions the store has committed beyond the last one this process\'s change feed applied; 0 when caught up; the worst worker.',
    (lag) => lag.versions,
  );
}
