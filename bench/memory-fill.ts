// One measurement for bench:memory, in a process of its own (run with --expose-gc): fills a memory tier with
// N demo entries (140-byte bodies, keys "1".."N") and prints, as one JSON line, the RSS and heap growth per
// entry, the tier's accounted bytes, and how many hot-path lookups (peekFresh of random ids) it answers a second.
//   node --expose-gc bench/memory-fill.ts compact|legacy|lru-index N MAX_BYTES
import { demoBody } from '../src/content/demo.ts';
import { DEFAULT_COLLECTION, DEFAULT_CONTENT_TYPE, type ContentRecord } from '../src/content/record.ts';
import { MemoryTier } from '../src/tiers/memory.ts';
import { LRUCache } from 'lru-cache';
import { MemoryTier as LegacyTier } from './legacy-memory.ts';

const [mode = 'compact', nArg = '1000000', maxArg = String(4 * 2 ** 30)] = process.argv.slice(2);
const n = Number(nArg);
const maxBytes = Number(maxArg);
const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error('run with --expose-gc');

function settle(): NodeJS.MemoryUsage {
  for (let i = 0; i < 4; i++) gc?.();
  return process.memoryUsage();
}

// Bodies are made before the baseline, as a store read would hand them over; the compact tier copies them.
const bodies = Array.from({ length: 1000 }, (_, i) => demoBody(i + 1));
const record = (i: number): ContentRecord => ({ collection: DEFAULT_COLLECTION, key: String(i), body: Buffer.from(bodies[i % 1000] as string, "latin1"), contentType: DEFAULT_CONTENT_TYPE, version: i, updatedAt: 0 });
const opts = { maxBytes, ttlMs: () => 3_600_000, staleMs: 60_000, negativeTtlMs: 5_000, load: async () => undefined };

// A worker that has served traffic has grown V8's young generation to its working size (tens of MB, whatever
// the cache holds): churn as many short-lived records as the fill makes before the baseline, so the growth
// measured is the entries' and not that.
let churned = 0;
for (let i = 1; i <= n; i++) churned += record(i).body.length;
const before = settle();
let accounted = 0;
let entries = 0;
let lookup: (key: string) => unknown;
let keep: unknown;
if (mode === 'lru-index') {
  // lru-cache as the index of the compact form: string key to slot number (the value a small integer).
  const index = new LRUCache<string, number>({ maxSize: n, sizeCalculation: () => 1 });
  for (let i = 1; i <= n; i++) index.set(String(i), i);
  entries = index.size;
  lookup = (k) => index.get(k);
  keep = index;
} else {
  const tier = mode === 'legacy' ? new LegacyTier(opts) : new MemoryTier(opts);
  for (let i = 1; i <= n; i++) tier.set(record(i));
  accounted = tier.size.bytes;
  entries = tier.size.entries;
  lookup = (k) => tier.peekFresh(DEFAULT_COLLECTION, k);
  keep = tier;
}
const after = settle();
const keys = Array.from({ length: 1 << 16 }, () => String(1 + Math.floor(Math.random() * Math.min(n, entries))));
let found = 0;
const t0 = performance.now();
const LOOKUPS = 2_000_000;
for (let i = 0; i < LOOKUPS; i++) if (lookup(keys[i & 0xffff] as string) !== undefined) found++;
const seconds = (performance.now() - t0) / 1000;
const rss = after.rss - before.rss;
const heap = after.heapUsed + after.external - (before.heapUsed + before.external);
process.stdout.write(
  JSON.stringify({ mode, n, entries, maxBytes, rssBytes: rss, heapBytes: heap, heapTotalBytes: after.heapTotal - before.heapTotal, jsHeapBytes: after.heapUsed - before.heapUsed, accounted, lookupsPerSecond: Math.round(LOOKUPS / seconds), found, kept: keep !== undefined, churned }) + '\n',
);
