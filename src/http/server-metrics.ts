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
