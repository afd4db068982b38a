// The origin metrics (floodgate_origin_*), one set per process with a collection label, read by /metrics:
// requests by status and their latency, requests in flight and queued, the breaker's state, reads answered
// without asking the origin (breaker open, queue full or timed out). Gauges are read at scrape time.
import client from 'prom-client';
import type { OriginObserver } from './client.ts';
import type { OriginSource } from './source.ts';

const STATE = { closed: 0, 'half-open': 1, open: 2 } as const;

export interface OriginMetrics {
  /** The observer of one collection's client. */
  observer(collection: string, warn: (msg: string, fields: Record<string, unknown>) => void): OriginObserver;
  /** Adds a collection's client to the gauges. */
  watch(collection: string, source: OriginSource): void;
}

export function createOriginMetrics(registry: client.Registry): OriginMetrics {
  const requests = new client.Counter({ name: 'floodgate_origin_requests_total', help: 'Requests sent to an origin, by collection and status (200, 404, 410, 3xx, 4xx, 5xx, timeout, error = no connection or a cut-off answer, too-large = over originBodyLimit).', labelNames: ['collection', 'status'], registers: [registry] });
  const duration = new client.Histogram({ name: 'floodgate_origin_request_duration_seconds', help: 'Origin request latency, by collection.', labelNames: ['collection'], buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30], registers: [registry] });
  const refused = new client.Counter({ name: 'floodgate_origin_refused_total', help: 'Origin reads answered without a request (stale, fallback or 503), by collection and reason (breaker-open, queue-full, queue-timeout, refresh-busy = a background refresh while every slot is busy).', labelNames: ['collection', 'reason'], registers: [registry] });
  const sources = new Map<string, OriginSource>();
  new client.Gauge({ name: 'floodgate_origin_in_flight', help: 'Requests in flight to an origin, by collection.', labelNames: ['collection'], aggregator: 'sum', registers: [registry], collect() { for (const [c, s] of sources) this.set({ collection: c }, s.client.inFlight); } });
  new client.Gauge({ name: 'floodgate_origin_queued', help: 'Origin requests waiting for a slot, by collection.', labelNames: ['collection'], aggregator: 'sum', registers: [registry], collect() { for (const [c, s] of sources) this.set({ collection: c }, s.client.queued); } });
  new client.Gauge({ name: 'floodgate_origin_breaker_state', help: 'Circuit breaker of an origin, by collection: 0 closed, 1 half-open (a probe is out), 2 open; the worst worker.', labelNames: ['collection'], aggregator: 'max', registers: [registry], collect() { for (const [c, s] of sources) this.set({ collection: c }, STATE[s.client.breaker.state]); } });
  return {
    observer(collection, warn) {
      let lastRedirectLog = 0;
      return {
        request(status, seconds) {
          requests.labels(collection, status).inc();
          duration.labels(collection).observe(seconds);
        },
        refused(reason) {
          refused.labels(collection, reason).inc();
        },
        redirected(status, location) {
          const now = Date.now();
          if (now - lastRedirectLog < 60_000) return;
          lastRedirectLog = now;
          warn('the origin answered a redirect, which is not followed (as Braze does not); fix the origin URL', { collection, status, location });
        },
      };
    },
    watch(collection, source) {
      sources.set(collection, source);
    },
  };
}
