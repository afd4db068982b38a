// L1: the in-process memory tier, on lru-cache. Bounded by bytes; every entry has a freshness (its
// collection's TTL, jittered) and a stale window after it, during which it is still served while one
// background load refreshes it (stale-while-revalidate) or while the lower tiers fail (stale-if-error).
// 404s are remembered briefly (negative caching), within a share of the tier of their own, so that misses
// for ids that do not exist cannot push real content out. lru-cache's fetch() gives single-flight: however
// many concurrent lookups arrive for one cold key, one load runs and the rest wait on it.
import { LRUCache } from 'lru-cache';
import { etagOf, type CachedContent, type ReadResult } from '../content/read-result.ts';
import { DEFAULT_COLLECTION, type Change, type ContentRecord } from '../content/record.ts';

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
/**
 * Bytes one remembered 404 costs besides its cache key's characters (1 byte each for Latin-1, else 2): the entry
 * object, the Map entries (lru-cache's and the misses' budget), lru-cache's slots and the key string's header.
 * Measured on Node 24 with --expose-gc, heap before and after 40,000 misses: 308, 369, 401 and 593 bytes an
 * entry for 8-, 32-, 64- and 256-character keys in the default collection, 849 for 256 two-byte characters,
 * the same plus the collection's name elsewhere: 337 + the key's bytes in every case but the shortest.
 * (Before, every miss was accounted 200 bytes, and a key sliced from the URL kept the whole URL alive: 2,341
 * to 2,562 bytes a miss with a 2,000-character query string.)
 */
const NEGATIVE_OVERHEAD = 340;
/** The share of the tier's bytes that remembered 404s may take; the oldest go first beyond it. */
export const NEGATIVE_SHARE = 0.1;
const JITTER = 0.1; // ±10 % on every TTL so entries written together do not expire together

/** V8 keeps a string of these characters at one byte each, else at two. */
const LATIN1 = /^[\u0000-\u00ff]*$/;

/**
 * A copy of `s` that shares no memory with the string it was cut from. A key sliced out of a request URL
 * (req.url.slice) keeps the whole URL alive, query string included, for as long as the cache keeps the key.
 * Concatenation then slicing makes V8 flatten a new string holding only these characters (and one more).
 */
function ownString(s: string): string {
  return (' ' + s).slice(1);
}

export class MemoryTier {
  readonly #cache: LRUCache<string, Entry, undefined>;
  #evictions = 0;
  readonly #opts: MemoryTierOptions;
  readonly #now: () => number;
  readonly #random: () => number;
  /**
   * Remembered misses (404s of keys never written, version 0) in the order they were remembered, with the
   * bytes they account: bounded to NEGATIVE_SHARE of the tier, oldest dropped first. Deletions (a version
   * above 0) are not in it: they come from committed writes, not from whoever asks for ids, and the version
   * they carry guards against older writes.
   */
  readonly #misses = new Map<string, Entry>();
  #missBytes = 0;
  readonly #missCap: number;

  constructor(opts: MemoryTierOptions) {
    this.#opts = opts;
    this.#now = opts.now ?? Date.now;
    this.#random = opts.random ?? Math.random;
    this.#missCap = Math.floor(Math.max(1, opts.maxBytes) * NEGATIVE_SHARE);
    this.#cache = new LRUCache<string, Entry, undefined>({
      maxSize: Math.max(1, opts.maxBytes),
      sizeCalculation: (e) => (typeof e.size === 'number' ? e.size : 1),
      // No TTL inside lru-cache: freshness and the stale window are judged here, on the injected clock,
      // which keeps lru-cache's get() to a map lookup and a move to the tail.
      noDeleteOnFetchRejection: true,
      // An entry leaving the cache (evicted, replaced, deleted) leaves the misses' budget too. lru-cache does not
      // report every case (a stale value under a load that is deleted): those are dropped by the budget in turn.
      // Evictions (entries pushed out to make room, not replaced or deleted) are counted for
      // floodgate_memory_evictions_total.
      dispose: (e, k, reason) => {
        if (reason === 'evict') this.#evictions++;
        this.#forgetMiss(k, e);
      },
      fetchMethod: async (cacheKey, stale, { signal }) => {
        const cut = cacheKey.indexOf(SEP);
        const collection = cut === -1 ? DEFAULT_COLLECTION : cacheKey.slice(0, cut);
        const key = cut === -1 ? cacheKey : cacheKey.slice(cut + 1);
        try {
          const record = await this.#opts.load(collection, key);
          if (record !== undefined) return this.#entryFor(record, collection);
          const miss = this.#negative(0, cacheKey);
          // A load a write replaced meanwhile is not stored (lookup reads again): nothing to remember then.
          return signal.aborted ? miss : this.#rememberMiss(cacheKey, miss);
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

  /** Entries in the tier and their accounted bytes; `misses` of them are remembered 404s, taking `missBytes`. */
  get size(): { entries: number; bytes: number; misses: number; missBytes: number } {
    return { entries: this.#cache.size, bytes: this.#cache.calculatedSize, misses: this.#misses.size, missBytes: this.#missBytes };
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
        // The cache keeps the key it is first given: a copy of its own, never a slice of the request's URL.
        const entry = await this.#cache.fetch(e === undefined ? ownString(k) : k, { status, forceRefresh: e !== undefined });
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
    this.#cache.set(current === undefined ? ownString(k) : k, this.#entryFor(record, record.collection));
  }

  /** Applies a change made anywhere: drops the entry unless it already holds that version or a newer one. */
  apply(change: Change): boolean {
    const k = cacheKeyOf(change.collection, change.key);
    const current = this.#cache.peek(k);
    if (current !== undefined && current.version >= change.version) return false;
    if (change.deleted) {
      this.#cache.set(k, this.#negative(change.version, k));
    } else {
      this.#cache.delete(k);
    }
    return true;
  }

  clear(): void {
    this.#cache.clear();
    this.#misses.clear();
    this.#missBytes = 0;
  }

  #refresh(k: string): void {
    // forceRefresh starts one background load; while it runs, get() keeps answering the stale entry and
    // further calls join the same load. The promise is observed here so a failure is never unhandled.
    this.#cache.fetch(k, { forceRefresh: true }).catch(() => undefined);
  }

  /** Takes a remembered miss into the misses' budget, dropping the oldest misses beyond it; returns it. */
  #rememberMiss(cacheKey: string, entry: Entry): Entry {
    this.#forgetMiss(cacheKey, this.#misses.get(cacheKey));
    while (this.#missBytes + entry.size > this.#missCap && this.#misses.size > 0) {
      const [oldKey, old] = this.#misses.entries().next().value as [string, Entry];
      this.#forgetMiss(oldKey, old);
      if (this.#cache.peek(oldKey, NO_OPTIONS) === old) this.#cache.delete(oldKey);
    }
    this.#misses.set(cacheKey, entry);
    this.#missBytes += entry.size;
    return entry;
  }

  #forgetMiss(cacheKey: string, entry: Entry | undefined): void {
    if (entry === undefined || this.#misses.get(cacheKey) !== entry) return;
    this.#misses.delete(cacheKey);
    this.#missBytes -= entry.size;
  }

  #entryFor(record: ContentRecord, collection: string): Entry {
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
  #negative(version: number, cacheKey: string): Entry {
    const now = this.#now();
    const freshUntil = now + this.#opts.negativeTtlMs;
    const size = NEGATIVE_OVERHEAD + cacheKey.length * (LATIN1.test(cacheKey) ? 1 : 2);
    return { record: undefined, version, etag: '', freshUntil, expiresAt: freshUntil, size, failed: false, touchedAt: now };
  }

  #jitter(ms: number): number {
    return Math.max(1, Math.round(ms * (1 - JITTER + 2 * JITTER * this.#random())));
  }
}
