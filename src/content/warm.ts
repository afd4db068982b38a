// Warming an audience before a send (`floodgate warm`, issue 11). The worker that receives a batch of keys reads
// them from the store in few queries (Store.getMany, WARM_QUERY_KEYS at a time, yielding to live requests between
// them), stores them in its memory tier and in Redis, hands the records to the other workers of its server over
// the primary's IPC (bus/ipc-warm.ts, acknowledged), and tells every other instance through the Redis bus which
// keys it warmed: they load those from Redis in pipelined batches, never from the store. So each key is read from
// the store once, whatever the number of workers and instances.
//
// Versions: the memory tier never replaces a newer entry with an older one, but a key it does not hold has no
// entry to guard it. A write that lands between the store read and the moment a worker stores the warmed copy
// (on this worker, or on another that hears of the write first) would be overwritten by the older copy. So the
// warmer remembers the versions of the last RECENT_CHANGES changes it heard of, and a warmed record older than
// one of them is not stored (counted as `newer`).
import type { InvalidationBus, WarmNotice } from '../bus/bus.ts';
import type { PeersReached, WarmPeers } from '../bus/ipc-warm.ts';
import type { Store } from '../store/store.ts';
import type { MemoryTier } from '../tiers/memory.ts';
import type { RedisTier } from '../tiers/redis-tier.ts';
import { etagNumberOfRecord } from './read-result.ts';
import type { ContentRecord } from './record.ts';
import type { Timed } from './sources.ts';

/** Keys per store query: about 2-3 ms of SQLite on this machine (1,000 took 6-12 ms), then the loop turns. */
export const WARM_QUERY_KEYS = 250;
/** Changes whose versions the guard remembers (a few MB at most; covers far more than a batch's flight time). */
const RECENT_CHANGES = 8192;
/** Warm notices from other instances waiting for their Redis read; beyond it the oldest is dropped (and counted). */
const MAX_QUEUED_NOTICES = 256;
/** Pauses before the warm-up tries a Redis call that timed out again (#tries). */
const REDIS_PAUSES_MS = [50, 150, 400];

export interface WarmerOptions {
  store: Store;
  memory: MemoryTier | undefined;
  l2: RedisTier | undefined;
  /** Whether Redis may be read now: not suspected of stale copies after an outage (l2-repair.ts). */
  l2Usable: () => boolean;
  bus: InvalidationBus | undefined;
  peers: WarmPeers | undefined;
  /** This instance's id: its own workers ignore its warm notices (they got the records over IPC). */
  instance: string;
  timed: Timed;
  redisTtlSeconds: (collection: string) => number;
  onError: (what: string, err: unknown) => void;
}

/** The memory tier of the worker that answers, for the budget report. */
export interface MemoryState {
  readonly maxBytes: number;
  readonly bytes: number;
  readonly entries: number;
  readonly evictions: number;
}

/** What warming one batch did. */
export interface WarmOutcome {
  /** Distinct keys asked for. */
  requested: number;
  found: number;
  missing: number;
  /** Body bytes of the records found. */
  bytes: number;
  /** Of the records found, how many this worker's memory tier holds after the batch, and what it accounts for them. */
  kept: number;
  accounted: number;
  /** Records not stored in memory because a newer change of the key was seen meanwhile. */
  newer: number;
  /** Redis: stored, unavailable (down or suspect: the batch was not written), or off (not configured). */
  redis: 'stored' | 'unavailable' | 'off';
  /** The other workers of this server (null: their primary did not answer) and how many of them hold the batch. */
  workers: number | null;
  answered: number;
  /** Whether the other instances were told through Redis. */
  announced: boolean;
}

/** A warm-up stopped by the store: how far it got, and the part it could not read. */
export class WarmError extends Error {
  override readonly name = 'WarmError';
  /** What was warmed of this batch before the failure. */
  readonly done: WarmOutcome;
  /** The keys of the store query that failed: its first and last, and how many. */
  readonly failed: { readonly first: string; readonly last: string; readonly keys: number };
  constructor(done: WarmOutcome, failed: WarmError['failed'], cause: unknown) {
    super(`the store failed while reading keys ${failed.first}…${failed.last}: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    this.done = done;
    this.failed = failed;
  }
}

/** Keys warmed by this worker, by where the records came from; counted for /metrics. */
export interface WarmStats {
  /** Read from the store by this worker. */
  store: number;
  /** Handed over by another worker of this server. */
  peer: number;
  /** Loaded from Redis on another instance's notice. */
  redis: number;
  /** Announced by another instance but not in Redis (or Redis unusable): left to their first read. */
  notInRedis: number;
  /** Notices dropped because too many waited. */
  droppedNotices: number;
}

const SEP = '\u0000';
const yieldToRequests = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

export class Warmer {
  readonly #o: WarmerOptions;
  /** The newest version heard of per key, for the last RECENT_CHANGES changes (oldest first). */
  readonly #recent = new Map<string, number>();
  /** Warm batches run one after the other on a worker, whoever sends them. */
  #queue: Promise<unknown> = Promise.resolve();
  readonly #notices: WarmNotice[] = [];
  #draining = false;
  readonly stats: WarmStats = { store: 0, peer: 0, redis: 0, notInRedis: 0, droppedNotices: 0 };

  constructor(opts: WarmerOptions) {
    this.#o = opts;
    opts.peers?.onShared((records) => {
      const stored = this.#store(records);
      this.stats.peer += stored.kept;
    });
    opts.bus?.onWarm?.((notice) => this.#heard(notice));
  }

  /** A change heard of (any write, invalidation or feed change): a warmed copy older than it is not stored. */
  noted(collection: string, key: string, version: number): void {
    const ck = collection + SEP + key;
    const held = this.#recent.get(ck);
    if (held !== undefined && held >= version) return;
    if (held === undefined && this.#recent.size >= RECENT_CHANGES) this.#recent.delete(this.#recent.keys().next().value as string);
    this.#recent.set(ck, version);
  }

  memory(): MemoryState | undefined {
    const m = this.#o.memory;
    if (m === undefined) return undefined;
    const size = m.size;
    return { maxBytes: m.budget.maxBytes, bytes: size.bytes, entries: size.entries, evictions: m.evictions };
  }

  /** Warms distinct keys of a store collection; rejects with WarmError when the store fails part-way. */
  warm(collection: string, keys: readonly string[]): Promise<WarmOutcome> {
    const run = this.#queue.then(() => this.#warm(collection, keys));
    this.#queue = run.catch(() => undefined);
    return run;
  }

  /**
   * The next page of a whole collection (`floodgate warm --all`), after store version `after`: the keys come from
   * the store's version index (changesSince), `next` is where the following page starts, null after the last.
   */
  warmPage(collection: string, after: number, limit: number): Promise<WarmOutcome & { next: number | null }> {
    const run = this.#queue.then(async () => {
      const page = await this.#o.timed('warm', () => this.#o.store.changesSince(after, limit));
      const keys = page.filter((c) => !c.deleted && c.collection === collection).map((c) => c.key);
      const outcome = await this.#warm(collection, [...new Set(keys)]);
      return { ...outcome, next: page.length < limit ? null : (page.at(-1)?.version ?? null) };
    });
    this.#queue = run.catch(() => undefined);
    return run;
  }

  async #warm(collection: string, keys: readonly string[]): Promise<WarmOutcome> {
    const l2 = this.#o.l2;
    const out: WarmOutcome = {
      requested: keys.length, found: 0, missing: 0, bytes: 0, kept: 0, accounted: 0, newer: 0,
      redis: l2 ? 'stored' : 'off', workers: 0, answered: 0, announced: false,
    };
    // Each part's hand-over (Redis, the other workers) runs while the next part is read from the store; the batch
    // is answered once all of them are done, so the client's pace is the slowest worker's.
    const handovers: Promise<void>[] = [];
    const stored: ContentRecord[] = [];
    let workersKnown = true;
    let shared = false;
    const handOver = async (records: ContentRecord[]): Promise<void> => {
      const [redisOk, reached] = await Promise.all([this.#fillRedis(collection, records), this.#share(collection, records)]);
      if (!redisOk && l2) out.redis = 'unavailable';
      if (redisOk && l2) out.announced = (await this.#announce(collection, records)) || out.announced;
      if (reached.workers === null) workersKnown = false;
      else {
        // The count that held for every part of the batch: the fewest workers that answered.
        out.workers = Math.max(out.workers ?? 0, reached.workers);
        out.answered = shared ? Math.min(out.answered, reached.answered) : reached.answered;
        shared = true;
      }
    };
    try {
      for (let i = 0; i < keys.length; i += WARM_QUERY_KEYS) {
        if (i > 0) await yieldToRequests();
        const part = keys.slice(i, i + WARM_QUERY_KEYS);
        let records: ContentRecord[];
        try {
          // Each body hashed for its ETag once, here: the memory tier, Redis and the other workers take it as it is.
          records = (await this.#o.timed('warm', () => this.#o.store.getMany(collection, part))).map((r) => (r.etag === undefined ? { ...r, etag: etagNumberOfRecord(r) } : r));
        } catch (err) {
          out.missing = i - out.found;
          throw new WarmError(out, { first: part[0] as string, last: part.at(-1) as string, keys: part.length }, err);
        }
        out.found += records.length;
        for (const r of records) out.bytes += r.body.length;
        const set = this.#set(records);
        out.newer += records.length - set.length;
        for (const r of set) stored.push(r);
        if (records.length > 0) handovers.push(handOver(records));
      }
    } finally {
      // What was read reaches the others even when a later part fails (they never throw: failures are counted).
      await Promise.all(handovers);
      // What the tier holds once the whole batch is in: a batch larger than the tier pushes out its own first records.
      const held = this.#held(stored);
      out.kept = held.kept;
      out.accounted = held.accounted;
      this.stats.store += held.kept;
    }
    if (!workersKnown) out.workers = null;
    out.missing = keys.length - out.found;
    return out;
  }

  /** Stores records in this worker's memory tier, but none older than a change heard of meanwhile. */
  #store(records: readonly ContentRecord[]): { kept: number; accounted: number; newer: number } {
    const stored = this.#set(records);
    return { ...this.#held(stored), newer: records.length - stored.length };
  }

  /**
   * memory.set() each record not older than a change heard of meanwhile; answers those it set. Without a memory
   * tier nothing is set and nothing is skipped as older: `newer` (records.length - set.length) stays 0.
   */
  #set(records: readonly ContentRecord[]): readonly ContentRecord[] {
    const memory = this.#o.memory;
    if (memory === undefined) return records;
    const stored: ContentRecord[] = [];
    for (const r of records) {
      const heard = this.#recent.size === 0 ? undefined : this.#recent.get(r.collection + SEP + r.key);
      if (heard !== undefined && heard > r.version) continue;
      memory.set(r);
      stored.push(r);
    }
    return stored;
  }

  /** How many of the records the memory tier holds now (their version or newer), and what it accounts for them. */
  #held(records: readonly ContentRecord[]): { kept: number; accounted: number } {
    const memory = this.#o.memory;
    let kept = 0;
    let accounted = 0;
    if (memory === undefined) return { kept, accounted };
    for (const r of records) {
      const e = memory.peekAny(r.collection, r.key);
      if (e?.record === undefined || e.version < r.version) continue;
      kept++;
      accounted += e.size;
    }
    return { kept, accounted };
  }

  async #fillRedis(collection: string, records: readonly ContentRecord[]): Promise<boolean> {
    const l2 = this.#o.l2;
    if (!l2) return false;
    // Tried even while the tier counts itself tripped (#tries: a disconnected one fails in microseconds), and while
    // Redis is suspected of older copies (l2-repair.ts): version-guarded writes only replace older versions.
    // Reading it is another matter (#drain).
    return this.#tries('redis fill while warming', () => l2.setMany(records, this.#o.redisTtlSeconds(collection)));
  }

  /**
   * A Redis call of the warm-up. One that timed out (Redis is there, but it or this process was slow past the
   * command deadline, 100 ms by default: a busy machine stalls a process that long) is tried again, 50, 150 and
   * 400 ms later, even while the tier counts itself tripped by those timeouts: a batch left out of Redis is left
   * out of every other instance. One that failed because Redis is not connected is not: that would only wait.
   * Both calls are idempotent (version-guarded writes, reads).
   */
  async #tries(what: string, call: () => Promise<void>): Promise<boolean> {
    for (let attempt = 0; ; attempt++) {
      try {
        await call();
        return true;
      } catch (err) {
        const cause = (err as { cause?: unknown }).cause;
        const timedOut = /timed out/i.test(cause instanceof Error ? cause.message : String(cause));
        if (!timedOut || attempt >= REDIS_PAUSES_MS.length) {
          this.#o.onError(what, err);
          return false;
        }
        await new Promise((resolve) => setTimeout(resolve, REDIS_PAUSES_MS[attempt]));
      }
    }
  }

  async #share(collection: string, records: readonly ContentRecord[]): Promise<PeersReached> {
    const peers = this.#o.peers;
    if (!peers) return { workers: 0, answered: 0 };
    return peers.share(collection, records);
  }

  async #announce(collection: string, records: readonly ContentRecord[]): Promise<boolean> {
    const bus = this.#o.bus;
    if (!bus?.announceWarm) return false;
    const notice = { instance: this.#o.instance, collection, keys: records.map((r) => r.key) };
    return this.#tries('warm notice publish', () => bus.announceWarm?.(notice) ?? Promise.resolve());
  }

  /** Another instance warmed keys and stored them in Redis: load them from there, one notice after the other. */
  #heard(notice: WarmNotice): void {
    if (notice.instance === this.#o.instance || !this.#o.l2 || this.#o.memory === undefined) return;
    if (this.#notices.length >= MAX_QUEUED_NOTICES) {
      this.#notices.shift();
      this.stats.droppedNotices++;
    }
    this.#notices.push(notice);
    if (this.#draining) return;
    this.#draining = true;
    void this.#drain();
  }

  async #drain(): Promise<void> {
    try {
      for (let n = this.#notices.shift(); n !== undefined; n = this.#notices.shift()) {
        const l2 = this.#o.l2;
        if (!l2 || !this.#o.l2Usable()) {
          this.stats.notInRedis += n.keys.length;
          continue;
        }
        let got: (ContentRecord | undefined)[] = [];
        const notice = n;
        if (await this.#tries('redis read of warmed keys', async () => void (got = await l2.getMany(notice.collection, notice.keys)))) {
          const records = got.filter((r): r is ContentRecord => r !== undefined);
          this.stats.notInRedis += n.keys.length - records.length;
          this.stats.redis += this.#store(records).kept;
        } else {
          this.stats.notInRedis += n.keys.length;
        }
        await yieldToRequests();
      }
    } finally {
      this.#draining = false;
    }
  }
}
