// ContentService: the domain's front door. A read walks the tiers (memory → Redis → the collection's source:
// the store, a SQL query or an HTTP origin, all behind source.ts) and fills the tiers above on the way back; a
// write goes to the store first, then (after commit) to the tiers, then out to every other instance as an
// invalidation; a purge drops cached copies everywhere. Nothing here knows about HTTP.
import type { CollectionDef } from './collections.ts';
import type { Change, ContentRecord, ContentWrite } from './record.ts';
import type { Store } from '../store/store.ts';
import type { InvalidationBus } from '../bus/bus.ts';
import type { RedisTier } from '../tiers/redis-tier.ts';
import { MemoryTier } from '../tiers/memory.ts';
import { uncached, type CachedContent, type ReadResult } from './read-result.ts';
import { L2Repair } from './l2-repair.ts';
import type { Source } from './source.ts';
import { querySource, storeSource, timer, type Timed } from './sources.ts';
import type { WarmPeers } from '../bus/ipc-warm.ts';
import { Warmer } from './warm.ts';

/** Counts what the service does; implemented by the metrics module, so content/ needs no metrics library. */
export interface ContentObserver {
  redis(outcome: 'hit' | 'miss' | 'error' | 'skipped'): void;
  store(op: StoreOp, seconds: number, ok: boolean): void;
  /** Something went wrong off the request path (an L2 write, a publish); logged, never thrown. */
  backgroundError(what: string, err: unknown): void;
}
/** 'warm': the batched reads of `floodgate warm` (Store.getMany, and the key pages of --all); 'scan': a preload's pages. */
export type StoreOp = 'get' | 'put' | 'delete' | 'bulk' | 'query' | 'warm' | 'scan';

export class ReadOnlyCollectionError extends Error {
  override readonly name = 'ReadOnlyCollectionError';
}

export interface ContentServiceOptions {
  store: Store;
  collections: ReadonlyMap<string, CollectionDef>;
  /** Memory tier bytes; 0 turns the tier off (every read then goes down, used by the lab's store-only row). */
  cacheBytes: number;
  defaultTtlMs: number;
  staleMs: number;
  negativeTtlMs: number;
  l2?: RedisTier | undefined;
  bus?: InvalidationBus | undefined;
  /**
   * With Redis, in a cluster worker: the IPC bus to the other workers of this server. A change whose Redis
   * update or publish failed goes out on it, so they drop their memory copy and do not trust Redis for it
   * before it is repaired, while Redis is away.
   */
  peers?: InvalidationBus | undefined;
  /** In a cluster worker: the other workers of this server, to hand them what a warm-up read (bus/ipc-warm.ts). */
  warmPeers?: WarmPeers | undefined;
  /** This instance's id (shared by its workers): its warm notices on the Redis bus are not for itself. */
  instance?: string;
  observer: ContentObserver;
  /** Builds the source of a collection that is neither the store nor a SQL query (an origin); app.ts knows how. */
  openSource?: (def: CollectionDef) => Source | undefined;
  now?: () => number;
}

/** Changes read from the store per page of a catch-up. */
const CATCH_UP_PAGE = 1000;

export class ContentService {
  readonly #store: Store;
  readonly #collections: ReadonlyMap<string, CollectionDef>;
  readonly #defaultTtlMs: number;
  readonly #memory: MemoryTier | undefined;
  readonly #l2: RedisTier | undefined;
  readonly #bus: InvalidationBus | undefined;
  readonly #peers: InvalidationBus | undefined;
  readonly #obs: ContentObserver;
  readonly #sources = new Map<string, Source>();
  readonly #storeSource: Source;
  readonly #openSource: ((def: CollectionDef) => Source | undefined) | undefined;
  readonly #timed: Timed;
  readonly #now: () => number;
  /** Whether Redis may be read, and its repair after an outage (l2-repair.ts); undefined without Redis. */
  readonly #repair: L2Repair | undefined;
  /** The store's highest version when init() ran. */
  #startVersion = 0;
  /** Catch-ups from the store after a bus gap, one after the other (see #catchUp). */
  #catchingUp: Promise<void> = Promise.resolve();
  /** `floodgate warm`: batches of keys into every worker's memory and Redis (warm.ts). */
  readonly warmer: Warmer;

  constructor(opts: ContentServiceOptions) {
    this.#store = opts.store;
    this.#collections = opts.collections;
    this.#defaultTtlMs = opts.defaultTtlMs;
    this.#l2 = opts.l2;
    this.#bus = opts.bus;
    this.#peers = opts.peers;
    this.#obs = opts.observer;
    this.#now = opts.now ?? Date.now;
    this.#timed = timer(this.#obs);
    this.#storeSource = storeSource(this.#store, this.#timed);
    this.#openSource = opts.openSource;
    const memOpts = {
      maxBytes: opts.cacheBytes,
      ttlMs: (c: string) => this.ttlMs(c),
      staleMs: opts.staleMs,
      negativeTtlMs: opts.negativeTtlMs,
      load: (c: string, k: string, headers?: unknown, background?: boolean) => this.#load(c, k, headers as SourceHeaders, background === true),
      now: this.#now,
    };
    this.#memory = opts.cacheBytes > 0 ? new MemoryTier(memOpts) : undefined;
    const bus = this.#bus;
    this.#repair = this.#l2 && new L2Repair({
      l2: this.#l2,
      store: this.#store,
      listening: () => bus?.subscribed !== false,
      onChange: (change) => this.#changed(change),
      onError: (what, err) => this.#obs.backgroundError(what, err),
    });
    this.warmer = new Warmer({
      store: this.#store,
      memory: this.#memory,
      l2: this.#l2,
      l2Usable: () => this.#repair?.usable() !== false,
      bus,
      peers: opts.warmPeers,
      instance: opts.instance ?? `${process.pid}`,
      timed: this.#timed,
      redisTtlSeconds: (c) => Math.ceil(this.ttlMs(c) / 1000),
      onError: (what, err) => this.#obs.backgroundError(what, err),
    });
    bus?.subscribe((change) => this.applyChange(change));
    this.#peers?.subscribe((change) => {
      this.#noted(change);
      this.#memory?.apply(change);
      this.#repair?.missed(change.version);
    });
    bus?.onResync?.((since) => {
      if (since !== undefined) {
        // The bus knows where the gap began (a worker died; cluster.ts): catch up from the store's versions.
        this.#catchUp(since);
        return;
      }
      // Pub/sub does not replay: changes may have been missed, so the memory tier starts over, and Redis is not
      // read again until it is repaired (l2-repair.ts): it may hold older copies of what changed meanwhile.
      this.#memory?.clear();
      this.#repair?.suspect();
    });
  }

  /** Opens every collection's source; a bad SQL query fails here, at start, not at the first request. */
  async init(): Promise<void> {
    this.#startVersion = await this.#store.maxVersion();
    this.#repair?.start(this.#startVersion);
    for (const def of this.#collections.values()) {
      const opened = this.#openSource?.(def);
      if (opened) this.#sources.set(def.name, opened);
      else if (def.query !== undefined) this.#sources.set(def.name, await querySource(this.#store, { ...def, query: def.query }, this.#timed, this.#now));
    }
  }


  /** The source of a collection: its own, else the store. */
  source(collection: string): Source {
    return this.#sources.get(collection) ?? this.#storeSource;
  }

  get store(): Store {
    return this.#store;
  }
  get memory(): MemoryTier | undefined {
    return this.#memory;
  }
  get l2(): RedisTier | undefined {
    return this.#l2;
  }
  /** The store's highest version when the service started: every change after it is announced by the bus. */
  get startVersion(): number {
    return this.#startVersion;
  }
  /** The Redis repair after an outage (undefined without Redis). */
  get l2Repair(): L2Repair | undefined {
    return this.#repair;
  }

  /**
   * Stops the background work (a pending Redis repair) and closes the sources that hold something of their own
   * (an origin's connection pool); the store and tiers are closed by their owner.
   */
  async close(): Promise<void> {
    this.#repair?.close();
    await Promise.all([...this.#sources.values()].map((s) => s.close?.() ?? Promise.resolve()));
  }

  collection(name: string): CollectionDef | undefined {
    return this.#collections.get(name);
  }

  /** The collections the collections file names (the store may hold others, written by PUT or import). */
  get collectionNames(): string[] {
    return [...this.#collections.keys()];
  }

  ttlMs(collection: string): number {
    return this.#collections.get(collection)?.ttlMs ?? this.#defaultTtlMs;
  }

  /** The synchronous fast path: a fresh memory entry or undefined. */
  fresh(collection: string, key: string): CachedContent | undefined {
    return this.#memory?.peekFresh(collection, key);
  }

  /** Whatever any in-process tier holds, fresh or stale: the answer of last resort under overload. */
  anyCached(collection: string, key: string): CachedContent | undefined {
    return this.#memory?.peekAny(collection, key);
  }

  /**
   * A full read: memory (single-flight), else Redis, else the source. Rejects when nothing can answer.
   * `headers` are the request headers the collection's source forwards (source(c).forwardHeaders).
   */
  get(collection: string, key: string, headers?: SourceHeaders): Promise<ReadResult> {
    if (this.#memory) return this.#memory.lookup(collection, key, headers);
    return this.#load(collection, key, headers, false).then(answerOfLoad);
  }

  /**
   * Drops keys of a read-only collection from memory and Redis here, and (through the bus) on every other
   * instance; the source is not asked. The next read loads each key again. The purge carries a version newer
   * than anything read so far, so a copy of the old content cannot come back from Redis or a late invalidation.
   */
  async purge(collection: string, keys: readonly string[]): Promise<number> {
    const version = this.#now() + 1;
    const changes = keys.map((key): Change => ({ collection, key, version, deleted: false }));
    for (const c of changes) this.#changed(c);
    await Promise.all(changes.map((c) => this.#afterCommit(c, undefined)));
    return changes.length;
  }

  async put(write: ContentWrite): Promise<ContentRecord> {
    this.#writable(write.collection);
    const record = await this.#timed('put', () => this.#store.put(write));
    this.warmer.noted(record.collection, record.key, record.version);
    this.#memory?.set(record);
    const change: Change = { collection: record.collection, key: record.key, version: record.version, deleted: false };
    await this.#afterCommit(change, record);
    return record;
  }

  async delete(collection: string, key: string): Promise<Change | undefined> {
    this.#writable(collection);
    const change = await this.#timed('delete', () => this.#store.delete(collection, key));
    if (change) {
      this.#changed(change);
      await this.#afterCommit(change, undefined);
    }
    return change;
  }

  /** Many writes in one store transaction; then the tiers and the other instances hear of each. */
  async putMany(writes: readonly ContentWrite[]): Promise<Change[]> {
    for (const w of writes) this.#writable(w.collection);
    const changes = await this.#timed('bulk', () => this.#store.putMany(writes));
    for (const c of changes) this.#changed(c);
    await Promise.all(changes.map((c) => this.#afterCommit(c, undefined)));
    return changes;
  }

  /** A change announced by another instance or worker (which already updated Redis): drop what is older. */
  applyChange(change: Change): void {
    this.#changed(change);
    this.#repair?.reached(change.version);
  }

  /**
   * A change seen on the store's change feed, possibly made by another application with plain SQL, which
   * no floodgate wrote to Redis: drop it from memory and from Redis. Redis's version guard makes this a
   * no-op where Redis already holds that version, so every instance doing it is harmless.
   */
  applyStoreChange(change: Change): void {
    this.#changed(change);
    this.#l2?.invalidate(change).then(
      () => this.#repair?.reached(change.version),
      (err: unknown) => {
        this.#repair?.missed(change.version);
        this.#obs.backgroundError('redis invalidate from change feed', err);
      },
    );
  }

  /** A change reaches the memory tier, and the warm-up's guard hears of it (warm.ts). */
  #changed(change: Change): void {
    this.#noted(change);
    this.#memory?.apply(change);
  }

  #noted(change: Change): void {
    this.warmer.noted(change.collection, change.key, change.version);
  }

  /** The post-save hook: L2 gets the new record (or a tombstone), then every instance hears of it. */
  async #afterCommit(change: Change, record: ContentRecord | undefined): Promise<void> {
    const l2 = this.#l2;
    let reached = true;
    if (l2) {
      try {
        if (record) await l2.set(record, this.#redisTtlSeconds(record));
        else await l2.invalidate(change);
        this.#repair?.reached(change.version);
      } catch (err) {
        // Redis may still hold the older copy: it is not read again before it is repaired (l2-repair.ts).
        this.#repair?.missed(change.version);
        this.#obs.backgroundError('redis write after commit', err);
        reached = false;
      }
    }
    if (this.#bus) {
      try {
        await this.#bus.publish(change);
      } catch (err) {
        this.#obs.backgroundError('invalidation publish', err);
        reached = false;
      }
    }
    if (!reached && this.#peers) await this.#peers.publish(change).catch((err: unknown) => this.#obs.backgroundError('invalidation publish to peers', err));
  }

  // Redis, else the source. A promise chain rather than async functions: on a cold campaign every read comes
  // through here, and the async layers cost ~500 bytes of allocation a read (measured with the sampling heap profiler).
  #load(collection: string, key: string, headers: SourceHeaders | undefined, background: boolean): Promise<ContentRecord | undefined> {
    const l2 = this.#l2;
    if (l2 === undefined) return this.#fromSource(collection, key, headers, background);
    if (this.#repair?.usable() === false) {
      this.#obs.redis('skipped');
      return this.#fromSource(collection, key, headers, background);
    }
    return l2.get(collection, key).then(
      (hit) => {
        this.#obs.redis(hit ? 'hit' : 'miss');
        return hit ?? this.#fromSource(collection, key, headers, background);
      },
      () => {
        this.#obs.redis('error');
        return this.#fromSource(collection, key, headers, background);
      },
    );
  }

  async #fromSource(collection: string, key: string, headers: SourceHeaders | undefined, background: boolean): Promise<ContentRecord | undefined> {
    const record = await this.source(collection).read(collection, key, { headers, background, late: (r) => this.#fillLate(r) });
    if (record) this.#fillRedis(record);
    return record;
  }

  #fillRedis(record: ContentRecord): void {
    const l2 = this.#l2;
    if (!l2?.healthy || record.freshness?.noStore === true) return;
    l2.set(record, this.#redisTtlSeconds(record)).catch((err: unknown) => this.#obs.backgroundError('redis fill', err));
  }

  /** An origin's answer that came after the read gave up on it: the next read finds it in memory and Redis. */
  #fillLate(record: ContentRecord): void {
    if (record.freshness?.noStore === true) return;
    this.#memory?.set(record);
    this.#fillRedis(record);
  }

  /** Redis keeps a record for its freshness (the collection's TTL, or what the source said). */
  #redisTtlSeconds(record: ContentRecord): number {
    return Math.ceil((record.freshness?.ttlMs ?? this.ttlMs(record.collection)) / 1000);
  }

  /**
   * A gap in the bus whose start is known (a worker died with changes it had committed but not yet announced):
   * every change after `since` is read from the store and dropped from the memory tier. Catch-ups run one after
   * the other; a failure is logged (the entries then stay until their TTL, as without the catch-up).
   */
  #catchUp(since: number): void {
    this.#catchingUp = this.#catchingUp.then(async () => {
      try {
        for (let from = since; ;) {
          const page = await this.#store.changesSince(from, CATCH_UP_PAGE);
          for (const change of page) this.applyChange(change);
          const last = page.at(-1);
          if (page.length < CATCH_UP_PAGE || !last) return;
          from = last.version;
        }
      } catch (err) {
        this.#obs.backgroundError('catch-up from the store after a bus gap', err);
      }
    });
  }

  #writable(collection: string): void {
    const source = this.source(collection);
    if (!source.writable) throw new ReadOnlyCollectionError(`collection ${collection} is ${source.describe}`);
  }
}

/** A read without a memory tier: what #load found, answered as a miss. */
function answerOfLoad(record: ContentRecord | undefined): ReadResult {
  return { entry: uncached(record), outcome: 'miss' };
}

/** Request headers handed to a source that forwards them (lower-case names). */
export type SourceHeaders = Readonly<Record<string, string>>;
