// The memory tier as it was before issue 11 (lru-cache holding one Entry object, a record object and a Buffer
// per entry), kept only so bench:memory can measure before and after side by side. Not used by the server.
import { LRUCache } from 'lru-cache';
import { etagOf, type CachedContent, type ReadResult } from '../src/content/read-result.ts';
import { DEFAULT_COLLECTION, type Change, type ContentRecord } from '../src/content/record.ts';

/** A cached record (or a remembered 404 or deletion, record undefined) and its freshness. */
export interface Entry extends CachedContent {
  readonly version: number;
  /** Clock time until which the entry is fresh. */
  readonly freshUntil: number;
  /** Clock time after which it is not served at all (the end of its stale window). */
  readonly expiresAt: number;
  readonly size: number;
  /** Set when a refresh of this (stale) entry failed: it is then served as error-stale. */
  failed: boolean;
  /** Clock time its LRU recency was last refreshed (see peekFresh). */
  touchedAt: number;
}

export interface Lookup extends ReadResult {
  readonly entry: Entry;
}

/** Loads one key from the tiers below (L2, then the store); undefined = it does not exist. */
export type Loader = (collection: string, key: string) => Promise<ContentRecord | undefined>;

export interface MemoryTierOptions {
  maxBytes: number;
  /** Freshness of an entry in a collection, ms. */
  ttlMs: (collection: string) => number;
  /** How long after its freshness an entry may still be served (stale-while-revalidate / -if-error), ms. */
  staleMs: number;
  /** How long a 404 is remembered, ms. */
  negativeTtlMs: number;
  load: Loader;
  /** The clock (ms). Injected so tests can move time without sleeping. */
  now?: () => number;
  /** Random in [0, 1) for TTL jitter; injected for tests. */
  random?: () => number;
}

const SEP = '\u0000';

/**
 * The cache key: the key alone in the default collection (the /data route: no string to build and hash
 * per request), `collection\0key` elsewhere. Keys never contain \0, so the two forms cannot collide.
 */
function cacheKeyOf(collection: string, key: string): string {
  return collection === DEFAULT_COLLECTION ? key : collection + SEP + key;
}
/** One shared options object: lru-cache's get()/peek() otherwise allocate a default one per call. */
const NO_OPTIONS = {};
/** A hot entry's LRU recency is refreshed at most this often (ms): eviction order is right to a second. */
const TOUCH_EVERY_MS = 1000;
const ENTRY_OVERHEAD = 200; // bytes: the entry object, the record object, key strings, lru-cache slots
const JITTER = 0.1; // ±10 % on every TTL so entries written together do not expire together

export class MemoryTier {
  readonly #cache: LRUCache<string, Entry, undefined>;
  #evictions = 0;
  readonly #opts: MemoryTierOptions;
  readonly #now: () => number;
  readonly #random: () => number;

  constructor(opts: MemoryTierOptions) {
    this.#opts = opts;
    this.#now = opts.now ?? Date.now;
    this.#random = opts.random ?? Math.random;
    this.#cache = new LRUCache<string, Entry, undefined>({
      maxSize: Math.max(1, opts.maxBytes),
      sizeCalculation: (e) => (typeof e.size === 'number' ? e.size : 1),
      // No TTL inside lru-cache: freshness and the stale window are judged here, on the injected clock,
      // which keeps lru-cache's get() to a map lookup and a move to the tail.
      noDeleteOnFetchRejection: true,
      // Counted for floodgate_memory_evictions_total: entries pushed out to make room (not replaced or deleted).
      dispose: (_value, _key, reason) => {
        if (reason === 'evict') this.#evictions++;
      },
      fetchMethod: async (cacheKey, stale) => {
        const cut = cacheKey.indexOf(SEP);
        const collection = cut === -1 ? DEFAULT_COLLECTION : cacheKey.slice(0, cut);
        const key = cut === -1 ? cacheKey : cacheKey.slice(cut + 1);
        try {
          const record = await this.#opts.load(collection, key);
          return this.#entryFor(record, collection);
        } catch (err) {
          if (stale) stale.failed = true;
          throw err;
        }
      },
    });
  }

  /** Entries pushed out by the byte bound since start. */
  get evictions(): number {
    return this.#evictions;
  }

  /** Entries in the tier and their accounted bytes. */
  get size(): { entries: number; bytes: number } {
    return { entries: this.#cache.size, bytes: this.#cache.calculatedSize };
  }

  /**
   * The synchronous fast path: a fresh entry, or undefined. Costs one Map lookup and one clock read; most
   * requests under a spike end here.
   */
  peekFresh(collection: string, key: string): Entry | undefined {
    const k = cacheKeyOf(collection, key);
    const e = this.#cache.peek(k, NO_OPTIONS);
    if (e === undefined) return undefined;
    const now = this.#now();
    if (now >= e.freshUntil) return undefined;
    // peek() leaves the LRU order alone (get() relinks the list on every hit); refresh recency once a second.
    if (now - e.touchedAt >= TOUCH_EVERY_MS) {
      e.touchedAt = now;
      this.#cache.get(k, NO_OPTIONS);
    }
    return e;
  }

  /** The full lookup: fresh hit, stale (refresh started), or a single-flight load. Rejects if the load fails with nothing to serve. */
  async lookup(collection: string, key: string): Promise<Lookup> {
    const k = cacheKeyOf(collection, key);
    for (let attempt = 0; ; attempt++) {
      const e = this.#cache.get(k);
      if (e !== undefined) {
        const now = this.#now();
        if (now < e.freshUntil) return { entry: e, outcome: 'hit' };
        if (now < e.expiresAt) {
          this.#refresh(k);
          return { entry: e, outcome: e.failed ? 'error-stale' : 'stale' };
        }
      }
      // Cold, or past its stale window: load, and wait. Concurrent lookups join the same load.
      const status: LRUCache.Status<string, Entry, undefined> = {};
      try {
        const entry = await this.#cache.fetch(k, { status, forceRefresh: e !== undefined });
        if (entry !== undefined) return { entry, outcome: status.fetch === 'inflight' ? 'coalesced' : 'miss' };
      } catch (err) {
        // A write or an invalidation landed while the load was in flight and replaced it: read again.
        if (!status.fetchAborted || attempt >= 3) throw err;
      }
    }
  }

  /** Whatever the tier holds for the key, fresh or stale, without loading: the last resort under overload. */
  peekAny(collection: string, key: string): Entry | undefined {
    const e = this.#cache.get(cacheKeyOf(collection, key));
    return e !== undefined && this.#now() < e.expiresAt ? e : undefined;
  }

  /** Write-through after a committed write: the very next read sees it. Older versions never replace newer ones. */
  set(record: ContentRecord): void {
    const k = cacheKeyOf(record.collection, record.key);
    const current = this.#cache.peek(k);
    if (current !== undefined && current.version > record.version) return;
    this.#cache.set(k, this.#entryFor(record, record.collection));
  }

  /** Applies a change made anywhere: drops the entry unless it already holds that version or a newer one. */
  apply(change: Change): boolean {
    const k = cacheKeyOf(change.collection, change.key);
    const current = this.#cache.peek(k);
    if (current !== undefined && current.version >= change.version) return false;
    if (change.deleted) {
      this.#cache.set(k, this.#negative(change.version));
    } else {
      this.#cache.delete(k);
    }
    return true;
  }

  clear(): void {
    this.#cache.clear();
  }

  #refresh(k: string): void {
    // forceRefresh starts one background load; while it runs, get() keeps answering the stale entry and
    // further calls join the same load. The promise is observed here so a failure is never unhandled.
    this.#cache.fetch(k, { forceRefresh: true }).catch(() => undefined);
  }

  #entryFor(record: ContentRecord | undefined, collection: string): Entry {
    if (record === undefined) return this.#negative(0);
    const now = this.#now();
    const freshUntil = now + this.#jitter(this.#opts.ttlMs(collection));
    return {
      record,
      version: record.version,
      etag: etagOf(record.body),
      freshUntil,
      expiresAt: freshUntil + this.#opts.staleMs,
      size: ENTRY_OVERHEAD + record.body.length + record.key.length * 2 + record.contentType.length,
      failed: false,
      touchedAt: now,
    };
  }

  /** A remembered 404 or deletion: no stale window, a 404 is never served once it is old. */
  #negative(version: number): Entry {
    const now = this.#now();
    const freshUntil = now + this.#opts.negativeTtlMs;
    return { record: undefined, version, etag: '', freshUntil, expiresAt: freshUntil, size: ENTRY_OVERHEAD, failed: false, touchedAt: now };
  }

  #jitter(ms: number): number {
    return Math.max(1, Math.round(ms * (1 - JITTER + 2 * JITTER * this.#random())));
  }
}
