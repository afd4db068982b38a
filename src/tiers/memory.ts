// L1: the in-process memory tier. Bounded by bytes that match what its entries cost the process; every entry
// has a freshness (its collection's TTL, jittered) and a stale window after it, during which it is still
// served while one background load refreshes it (stale-while-revalidate) or while the lower tiers fail
// (stale-if-error). Entries live in compact form (compact.ts: typed arrays and slab chunks, no object per
// entry, so a million entries cost the garbage collector nothing to walk); a lookup materializes the one it
// answers. A record may carry its own freshness (an origin's Cache-Control: its stale-while-revalidate and
// stale-if-error windows, kept beside the compact form for the few entries that have one). 404s are remembered briefly (negative caching), within a share of the tier of their own, so that
// misses for ids that do not exist cannot push real content out. Loads are single-flight: however many
// concurrent lookups arrive for one cold key, one load runs and the rest wait on it.
import { etagNumberOf, etagNumberOfRecord, etagText, type CachedContent, type ReadResult } from '../content/read-result.ts';
import { DEFAULT_COLLECTION, type Change, type ContentRecord, type Freshness } from '../content/record.ts';
import { CompactStore } from './compact.ts';

/** A cached record (or a remembered 404 or deletion, record undefined) and its freshness. */
export interface Entry extends CachedContent {
  readonly version: number;
  /** Clock time until which the entry is fresh. */
  readonly freshUntil: number;
  /** Clock time after which it is not served while revalidating (the end of its stale-while-revalidate window). */
  readonly expiresAt: number;
  /** Clock time after which it is not served at all, not even while the load fails (stale-if-error); ≥ expiresAt. */
  readonly errorUntil: number;
  /** Bytes the tier accounts for it. */
  readonly size: number;
  /** Set when a refresh of this (stale) entry failed: it is then served as error-stale. */
  readonly failed: boolean;
}

export interface Lookup extends ReadResult {
  readonly entry: Entry;
}

/**
 * Loads one key from the tiers below (L2, then the source); undefined = it does not exist. `context` is what the
 * lookup that started the load passed (the request headers an origin is sent); `background` is true for the
 * refresh of a stale entry being served meanwhile (nobody waits on it).
 */
export type Loader = (collection: string, key: string, context?: unknown, background?: boolean) => Promise<ContentRecord | undefined>;

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
 * The key of a load in flight and of a remembered miss: the key alone in the default collection,
 * `collection\0key` elsewhere. Keys never contain \0, so the two forms cannot collide.
 */
function cacheKeyOf(collection: string, key: string): string {
  return collection === DEFAULT_COLLECTION ? key : collection + SEP + key;
}
/**
 * Bytes one remembered miss costs besides its cache key's characters (1 byte each for Latin-1, else 2): misses
 * are small objects in a Map of their own (they are bounded to NEGATIVE_SHARE of the tier, so few). Measured on
 * Node 24 with --expose-gc, heap before and after 40,000 misses: 337 + the key's bytes for 8- to 256-character
 * keys. (A key sliced from the URL would keep the whole URL alive: the Map keeps a copy of its own.)
 */
const NEGATIVE_OVERHEAD = 340;
/** The share of the tier's bytes that remembered 404s may take; the oldest go first beyond it. */
export const NEGATIVE_SHARE = 0.1;
const JITTER = 0.1; // ±10 % on every TTL so entries written together do not expire together
/** A hot entry's LRU recency is refreshed at most this often (ms) on the fast path: eviction order is right to a second. */
const TOUCH_EVERY_MS = 1000;
/** The fast path's recency stamp for a clock time: never 0 (a new slot's). */
function stampOf(now: number): number {
  return (Math.floor(now / TOUCH_EVERY_MS) % 0xfffffffe) + 1;
}

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

/** One load in flight: every lookup of its key meanwhile waits on it. A write or a change aborts it. */
interface Flight {
  readonly promise: Promise<Entry>;
  aborted: boolean;
}

/** A remembered miss (a 404 of a key never written). */
interface Miss extends Entry {
  readonly record: undefined;
}

export class MemoryTier {
  readonly #store = new CompactStore();
  readonly #flights = new Map<string, Flight>();
  /** Remembered misses in the order they were remembered: bounded to NEGATIVE_SHARE of the tier, oldest dropped first. */
  readonly #misses = new Map<string, Miss>();
  #missBytes = 0;
  readonly #missCap: number;
  readonly #maxBytes: number;
  #evictions = 0;
  /** The stale windows of entries whose record set its own freshness (Freshness), by cache key; most have none. */
  readonly #windows = new Map<string, { readonly freshness: Freshness; readonly staleMs: number; readonly errorMs: number }>();
  readonly #opts: MemoryTierOptions;
  /** Bulk fills open (beginFill … endFill), and meanwhile the newest change seen for each key (see fill). */
  #fills = 0;
  #changed: Map<string, number> | undefined;
  /** Bumped by clear(): a batch a fill read before a clear may be older than the changes the clear stands for. */
  #clears = 0;
  readonly #now: () => number;
  readonly #random: () => number;

  constructor(opts: MemoryTierOptions) {
    this.#opts = opts;
    this.#now = opts.now ?? Date.now;
    this.#random = opts.random ?? Math.random;
    this.#maxBytes = Math.max(1, opts.maxBytes);
    this.#missCap = Math.floor(this.#maxBytes * NEGATIVE_SHARE);
  }

  /** Entries pushed out by the byte bound since start. */
  get evictions(): number {
    return this.#evictions;
  }

  /** Entries in the tier and their accounted bytes; `misses` of them are remembered 404s, taking `missBytes`. */
  get size(): { entries: number; bytes: number; misses: number; missBytes: number } {
    return { entries: this.#store.count + this.#misses.size, bytes: this.#store.bytes + this.#missBytes, misses: this.#misses.size, missBytes: this.#missBytes };
  }

  /** The byte bound and the bytes of slabs held (free chunks included): for benchmarks and operators. */
  get budget(): { maxBytes: number; slabBytes: number } {
    return { maxBytes: this.#maxBytes, slabBytes: this.#store.slabBytes };
  }

  /** The synchronous fast path: a fresh entry, or undefined. One hash probe and one clock read. */
  peekFresh(collection: string, key: string): Entry | undefined {
    const s = this.#store.find(collection, key);
    if (s >= 0) {
      const now = this.#now();
      if (now >= this.#store.freshUntil(s)) return undefined;
      this.#store.touchAt(s, stampOf(now));
      return this.#entryAt(s, collection, key);
    }
    const miss = this.#misses.size === 0 ? undefined : this.#misses.get(cacheKeyOf(collection, key));
    return miss !== undefined && this.#now() < miss.freshUntil ? miss : undefined;
  }

  /**
   * The full lookup: fresh hit, stale (refresh started), or a single-flight load. Rejects if the load fails with
   * nothing to serve. A promise chain, not an async function: on a cold campaign every first call of a recipient
   * comes through here, and each async layer costs a promise, a suspended frame and a microtask a miss.
   */
  lookup(collection: string, key: string, context?: unknown): Promise<Lookup> {
    try {
      return this.#lookup(cacheKeyOf(collection, key), collection, key, context, 0);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  #lookup(ck: string, collection: string, key: string, context: unknown, attempt: number): Promise<Lookup> {
    const s = this.#store.find(collection, key);
    if (s >= 0) {
      this.#store.touch(s);
      const now = this.#now();
      const fresh = this.#store.freshUntil(s);
      if (now < fresh) return Promise.resolve({ entry: this.#entryAt(s, collection, key), outcome: 'hit' });
      if (now < fresh + (this.#store.negative(s) ? 0 : this.#staleMs(ck))) {
        this.#flight(ck, collection, key, true, context).promise.catch(() => undefined);
        const entry = this.#entryAt(s, collection, key);
        return Promise.resolve({ entry, outcome: entry.failed ? 'error-stale' : 'stale' });
      }
    } else {
      const miss = this.#misses.get(ck);
      if (miss !== undefined && this.#now() < miss.freshUntil) return Promise.resolve({ entry: miss, outcome: 'hit' });
    }
    // Cold, or past its stale window: load, and wait. Concurrent lookups join the same load.
    const joined = this.#flights.get(ck);
    const flight = joined ?? this.#flight(ck, collection, key, false, context);
    // An aborted flight: a write or an invalidation landed while the load was in flight and replaced it, so read
    // again (up to 3 times).
    return flight.promise.then(
      (entry): Lookup | Promise<Lookup> =>
        !flight.aborted || attempt >= 3 ? { entry, outcome: joined ? 'coalesced' : 'miss' } : this.#lookup(ck, collection, key, context, attempt + 1),
      (err: unknown): Lookup | Promise<Lookup> => {
        // Past its stale-while-revalidate window but inside its stale-if-error one: the failed load serves it.
        if (!flight.aborted) {
          const e = this.peekAny(collection, key);
          if (e?.record !== undefined) return { entry: e, outcome: 'error-stale' };
        }
        if (!flight.aborted || attempt >= 3) throw err;
        return this.#lookup(ck, collection, key, context, attempt + 1);
      },
    );
  }

  /** Whatever the tier holds for the key, fresh or stale, without loading: the last resort under overload. */
  peekAny(collection: string, key: string): Entry | undefined {
    const s = this.#store.find(collection, key);
    if (s >= 0) {
      this.#store.touch(s);
      const e = this.#entryAt(s, collection, key);
      return this.#now() < e.errorUntil ? e : undefined;
    }
    const miss = this.#misses.get(cacheKeyOf(collection, key));
    return miss !== undefined && this.#now() < miss.expiresAt ? miss : undefined;
  }

  /** Write-through after a committed write: the very next read sees it. Older versions never replace newer ones. */
  set(record: ContentRecord): void {
    const s = this.#store.find(record.collection, record.key);
    if (s >= 0 && this.#store.version(s) > record.version) return;
    const ck = cacheKeyOf(record.collection, record.key);
    if (this.#changed !== undefined) this.#sawChange(ck, record.version);
    this.#abort(ck);
    this.#forgetMiss(ck);
    this.#put(record, record.collection, record.key);
  }

  /** Applies a change made anywhere: drops the entry unless it already holds that version or a newer one. */
  apply(change: Change): boolean {
    const s = this.#store.find(change.collection, change.key);
    if (s >= 0 && this.#store.version(s) >= change.version) return false;
    const ck = cacheKeyOf(change.collection, change.key);
    if (this.#changed !== undefined) this.#sawChange(ck, change.version);
    this.#abort(ck);
    this.#forgetMiss(ck);
    if (change.deleted) {
      // A deletion is remembered in compact form (its version guards against older writes), not as a miss.
      const freshUntil = this.#now() + this.#opts.negativeTtlMs;
      this.#insert(change.collection, change.key, { version: change.version, freshUntil, updatedAt: 0, etag: 0, contentType: '', body: undefined });
    } else if (s >= 0) {
      this.#remove(s, ck);
    }
    return true;
  }

  clear(): void {
    this.#clears++;
    for (const f of this.#flights.values()) f.aborted = true;
    this.#flights.clear();
    this.#store.clear();
    this.#windows.clear();
    this.#misses.clear();
    this.#missBytes = 0;
  }

  /**
   * Opens a bulk fill (serve --preload): until endFill(), every write and change is remembered by key, so that
   * a copy the fill read before it cannot land after it. Answers the mark to pass to fill() with a batch read
   * from now on. Fills may overlap; each beginFill() needs its endFill().
   */
  beginFill(): number {
    if (this.#fills++ === 0) this.#changed = new Map();
    return this.#clears;
  }

  /** A mark for the next batch: take it before reading the batch from the source (see fill). */
  fillMark(): number {
    return this.#clears;
  }

  /** Room for `n` more entries, made at once (a fill that knows how many records come: see CompactStore.reserve). */
  reserve(n: number): void {
    this.#store.reserve(n);
  }

  endFill(): void {
    if (this.#fills > 0 && --this.#fills === 0) this.#changed = undefined;
  }

  /**
   * Stores records read in bulk from their source (the store's scan), in order, as a load of each would: the
   * collection's TTL (jittered) from now, then stale like any entry. Never evicts: it stops at the first record
   * that does not fit in the byte bound (`full`; the records from index stored + skipped on were not taken). A
   * record is skipped when the tier holds that version of the key or a newer one, when a write or change to it
   * arrived since beginFill() with a newer version, when a load of it is in flight, or (the whole batch) when
   * clear() ran after `mark` was taken: the batch may predate what the clear stands for. A record that is larger
   * than the tier on its own is skipped too. Call between beginFill() and endFill(). An entry's ETag (a SHA-1 of
   * its body) is computed when it is first answered, not here: over 1,000,000 entries of 140 bytes that was a
   * quarter of the preload's CPU, about 1.5 µs an entry, paid once by the entry's first hit instead.
   */
  fill(records: readonly ContentRecord[], mark: number): { stored: number; skipped: number; bytes: number; full: boolean } {
    if (mark !== this.#clears) return { stored: 0, skipped: records.length, bytes: 0, full: false };
    const st = this.#store;
    const now = this.#now();
    const before = st.bytes;
    let stored = 0;
    let skipped = 0;
    let ttlCollection = '';
    let ttlMs = 0;
    for (let i = 0; i < records.length; i++) {
      const r = records[i] as ContentRecord;
      const s = st.find(r.collection, r.key);
      if (s >= 0 && st.version(s) >= r.version) {
        skipped++;
        continue;
      }
      // The cache key is built only where something is kept by it (most fills: nothing).
      if ((this.#changed !== undefined && this.#changed.size > 0) || this.#flights.size > 0 || this.#misses.size > 0 || this.#windows.size > 0) {
        const ck = cacheKeyOf(r.collection, r.key);
        if ((this.#changed?.get(ck) ?? -1) > r.version || this.#flights.has(ck)) {
          skipped++;
          continue;
        }
        this.#forgetMiss(ck);
        if (this.#windows.size > 0) this.#windows.delete(ck);
      }
      if (r.collection !== ttlCollection) {
        ttlCollection = r.collection;
        ttlMs = this.#opts.ttlMs(r.collection);
      }
      const at = st.insert(r.collection, r.key, { version: r.version, freshUntil: now + this.#jitter(ttlMs), updatedAt: r.updatedAt, etag: NaN, contentType: r.contentType, body: r.body }, s);
      if (at < 0) {
        skipped++;
        continue;
      }
      if (st.bytes + this.#missBytes > this.#maxBytes) {
        const alone = st.sizeOf(at) > this.#maxBytes;
        this.#remove(at);
        if (alone) {
          skipped++;
          continue;
        }
        return { stored, skipped, bytes: st.bytes - before, full: true };
      }
      stored++;
    }
    return { stored, skipped, bytes: st.bytes - before, full: false };
  }

  #sawChange(ck: string, version: number): void {
    const changed = this.#changed as Map<string, number>;
    if ((changed.get(ck) ?? -1) < version) changed.set(ownString(ck), version);
  }

  /**
   * The load in flight for a key, or a new one. Its result is stored unless a write or change aborted it. A
   * background refresh (`later`) starts its load on the next turn of the event loop: the lookup that asked
   * for it, and those right behind it, are answered stale first.
   */
  #flight(ck: string, collection: string, key: string, later = false, context?: unknown): Flight {
    const running = this.#flights.get(ck);
    if (running !== undefined) return running;
    const flight: { promise: Promise<Entry>; aborted: boolean } = { promise: Promise.resolve() as unknown as Promise<Entry>, aborted: false };
    // The flight's key outlives the request: a copy of its own, never a slice of the request's URL.
    const own = ownString(ck);
    const ownCollection = collection === DEFAULT_COLLECTION ? DEFAULT_COLLECTION : ownString(collection);
    const ownKey = collection === DEFAULT_COLLECTION ? own : ownString(key);
    // A promise chain rather than an async function, for the reason lookup() gives.
    let loaded: Promise<ContentRecord | undefined>;
    try {
      loaded = later
        ? new Promise<void>((resolve) => setImmediate(resolve)).then(() => this.#opts.load(ownCollection, ownKey, context, later))
        : Promise.resolve(this.#opts.load(ownCollection, ownKey, context, later));
    } catch (err) {
      loaded = Promise.reject(err);
    }
    flight.promise = loaded.then(
      (record) => {
        if (flight.aborted) return record === undefined ? this.#missEntry(0) : this.#entryOf(record);
        this.#flights.delete(own);
        this.#forgetMiss(own);
        // no-store: only the lookups waiting on this load get it; nothing is kept.
        if (record !== undefined) return record.freshness?.noStore === true ? this.#entryOf(record) : this.#put(record, ownCollection, ownKey);
        const s = this.#store.find(ownCollection, ownKey);
        if (s >= 0) this.#remove(s, own);
        return this.#rememberMiss(own);
      },
      (err: unknown) => {
        if (!flight.aborted) {
          this.#flights.delete(own);
          // The stale entry a refresh was for is now served as error-stale.
          const s = this.#store.find(ownCollection, ownKey);
          if (s >= 0) this.#store.markFailed(s);
        }
        throw err;
      },
    );
    this.#flights.set(own, flight);
    return flight;
  }

  #abort(ck: string): void {
    const f = this.#flights.get(ck);
    if (f === undefined) return;
    f.aborted = true;
    this.#flights.delete(ck);
  }

  /** Stores a record (or not, if it is larger than the tier) and answers its entry. */
  #put(record: ContentRecord, collection: string, key: string): Entry {
    const entry = this.#entryOf(record);
    const ck = cacheKeyOf(collection, key);
    if (this.#windows.size > 0) this.#windows.delete(ck);
    this.#insert(collection, key, { version: record.version, freshUntil: entry.freshUntil, updatedAt: record.updatedAt, etag: entry.etagNumber, contentType: record.contentType, body: record.body });
    const f = record.freshness;
    if (f !== undefined && this.#store.find(collection, key) >= 0) {
      this.#windows.set(ownString(ck), { freshness: f, staleMs: entry.expiresAt - entry.freshUntil, errorMs: entry.errorUntil - entry.freshUntil });
    }
    return entry;
  }

  /** Removes a slot, and its own stale windows if it had some. */
  #remove(s: number, ck?: string): void {
    if (this.#windows.size > 0) this.#windows.delete(ck ?? cacheKeyOf(this.#store.collection(s), this.#store.key(s)));
    this.#store.remove(s);
  }

  /** The stale-while-revalidate window of a key's entry, ms. */
  #staleMs(ck: string): number {
    return this.#windows.size === 0 ? this.#opts.staleMs : (this.#windows.get(ck)?.staleMs ?? this.#opts.staleMs);
  }

  /** The stale-if-error window of a key's entry, ms (≥ its stale-while-revalidate window). */
  #errorMs(ck: string): number {
    return this.#windows.size === 0 ? this.#opts.staleMs : (this.#windows.get(ck)?.errorMs ?? this.#opts.staleMs);
  }

  /** Inserts, then evicts the least recently used entries beyond the byte bound (an entry larger than the tier is not kept). */
  #insert(collection: string, key: string, fields: Parameters<CompactStore['insert']>[2]): void {
    const s = this.#store.insert(collection, key, fields);
    if (s < 0) return;
    if (this.#store.sizeOf(s) + this.#missBytes > this.#maxBytes) {
      this.#remove(s);
      return;
    }
    while (this.#store.bytes + this.#missBytes > this.#maxBytes) {
      this.#remove(this.#store.oldest);
      this.#evictions++;
    }
  }

  /** Takes a remembered miss into the misses' budget, dropping the oldest misses beyond it; returns it. */
  #rememberMiss(ck: string): Miss {
    this.#forgetMiss(ck);
    const miss = this.#missEntry(NEGATIVE_OVERHEAD + ck.length * (LATIN1.test(ck) ? 1 : 2));
    if (miss.size > this.#missCap) return miss;
    while (this.#missBytes + miss.size > this.#missCap) {
      const oldest = this.#misses.keys().next().value as string;
      this.#forgetMiss(oldest);
    }
    this.#misses.set(ck, miss);
    this.#missBytes += miss.size;
    while (this.#store.bytes + this.#missBytes > this.#maxBytes && this.#store.count > 0) {
      this.#remove(this.#store.oldest);
      this.#evictions++;
    }
    return miss;
  }

  #forgetMiss(ck: string): void {
    if (this.#misses.size === 0) return;
    const miss = this.#misses.get(ck);
    if (miss === undefined) return;
    this.#misses.delete(ck);
    this.#missBytes -= miss.size;
  }

  #missEntry(size: number): Miss {
    const freshUntil = this.#now() + this.#opts.negativeTtlMs;
    return { record: undefined, version: 0, etag: '', freshUntil, expiresAt: freshUntil, errorUntil: freshUntil, size, failed: false };
  }

  /**
   * A loaded or written record's entry, with a new jittered freshness; a record's own freshness (an origin's
   * Cache-Control) is exact, and no-store is stale and past every window at once.
   */
  #entryOf(record: ContentRecord): Entry & { etagNumber: number } {
    const now = this.#now();
    const f = record.freshness;
    const freshUntil = f === undefined ? now + this.#jitter(this.#opts.ttlMs(record.collection)) : now + (f.noStore === true ? 0 : f.ttlMs);
    const staleMs = f?.noStore === true ? 0 : (f?.staleMs ?? this.#opts.staleMs);
    const errorMs = f?.noStore === true ? 0 : Math.max(staleMs, f?.staleIfErrorMs ?? staleMs);
    const etagNumber = etagNumberOfRecord(record);
    return { record, version: record.version, etag: etagText(etagNumber), etagNumber, freshUntil, expiresAt: freshUntil + staleMs, errorUntil: freshUntil + errorMs, size: 0, failed: false };
  }

  /** The entry a slot holds, built for the lookup that answers it (key and collection are the caller's strings). */
  #entryAt(s: number, collection: string, key: string): Entry {
    const st = this.#store;
    const freshUntil = st.freshUntil(s);
    const version = st.version(s);
    if (st.negative(s)) return { record: undefined, version, etag: '', freshUntil, expiresAt: freshUntil, errorUntil: freshUntil, size: st.sizeOf(s), failed: false };
    const ck = cacheKeyOf(collection, key);
    const w = this.#windows.size === 0 ? undefined : this.#windows.get(ck);
    const body = st.body(s);
    let etag = st.etag(s);
    if (etag !== etag) {
      // NaN: a bulk-filled entry's ETag, computed when it is first answered (fill()).
      etag = etagNumberOf(body);
      st.setEtag(s, etag);
    }
    const record: ContentRecord = { collection, key, body, contentType: st.contentType(s), version, updatedAt: st.updatedAt(s), ...(w === undefined ? {} : { freshness: w.freshness }) };
    return { record, version, etag: etagText(etag), freshUntil, expiresAt: freshUntil + this.#staleMs(ck), errorUntil: freshUntil + this.#errorMs(ck), size: st.sizeOf(s), failed: st.failed(s) };
  }

  #jitter(ms: number): number {
    return Math.max(1, Math.round(ms * (1 - JITTER + 2 * JITTER * this.#random())));
  }
}
