// The longest garbage-collection pause, from PerformanceObserver 'gc' entries: a gauge of the longest pause since
// the previous scrape (floodgate_gc_pause_max_seconds, the worst worker), for bench:soak and for operators
// watching a cache that holds an audience. Observing gc entries costs nothing on the request path.
import { PerformanceObserver } from 'node:perf_hooks';
import client, { type Registry } from 'prom-client';

/** Registers the gauge and starts observing; the returned function stops it. */
export function registerGcPauses(registry: Registry): () => void {
  let longest = 0;
  const observer = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) if (e.duration > longest) longest = e.duration;
  });
  observer.observe({ entryTypes: ['gc'] });
  new client.Gauge({
    name: 'floodgate_gc_pause_max_seconds',
    help: 'The longest garbage-collection pause since the previous scrape, seconds; the worst worker.',
    registers: [registry],
    aggregator: 'max',
    collect() {
      this.set(longest / 1000);
      longest = 0;
    },
  });
  return () => observer.disconnect();
}
