// Garbage-collection pauses, from PerformanceObserver 'gc' entries, for bench:soak and for operators watching a
// cache that holds an audience:
// - floodgate_gc_pause_max_seconds: the longest pause since the previous scrape (the worst worker). Each
//   collection of the registry starts a new interval, so it is exact for one scraper;
// - floodgate_gc_pause_seconds{kind}: every pause in a histogram by kind (minor = scavenge, major =
//   mark-compact, incremental = an incremental-marking step, weakcb = weak callbacks), which any number of
//   scrapers may read: the pauses over 50 ms in an interval are the difference of two scrapes' buckets.
// Observing gc entries costs nothing on the request path: V8 reports each collection once, after it.
import { PerformanceObserver, constants } from 'node:perf_hooks';
import client, { type Registry } from 'prom-client';

/** Bucket bounds, seconds: a scavenge takes about a millisecond, the soak's limit is 50 ms. */
export const GC_PAUSE_BUCKETS = [0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1];

const KINDS: Record<number, string> = {
  [constants.NODE_PERFORMANCE_GC_MINOR]: 'minor',
  [constants.NODE_PERFORMANCE_GC_MAJOR]: 'major',
  [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: 'incremental',
  [constants.NODE_PERFORMANCE_GC_WEAKCB]: 'weakcb',
};

/** Registers the gauge and the histogram and starts observing; the returned function stops it. */
export function registerGcPauses(registry: Registry): () => void {
  let longest = 0;
  const pauses = new client.Histogram({
    name: 'floodgate_gc_pause_seconds',
    help: 'Garbage-collection pauses by kind (minor, major, incremental, weakcb), seconds; summed over workers.',
    labelNames: ['kind'],
    buckets: GC_PAUSE_BUCKETS,
    registers: [registry],
  });
  const byKind = new Map(Object.entries(KINDS).map(([k, kind]) => [Number(k), pauses.labels({ kind })]));
  const other = pauses.labels({ kind: 'other' });
  const observer = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      if (e.duration > longest) longest = e.duration;
      const kind = ((e as { detail?: { kind?: number } }).detail)?.kind;
      (byKind.get(kind ?? -1) ?? other).observe(e.duration / 1000);
    }
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
