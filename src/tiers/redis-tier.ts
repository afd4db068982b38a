// The Redis tier's interface: the shared cache (L2) between the in-process memory tier and the store, on Redis
// standalone or Cluster (implemented by redis.ts; the memory tier is not one of these).
import type { Change, ContentRecord } from '../content/record.ts';

export interface RedisTier {
  /** 'redis' or 'redis-cluster'. */
  readonly name: string;
  /**
   * Cheap and synchronous: false while the tier is known to be down or too slow (disconnected, or several calls
   * in a row failed). Callers skip the tier while it is false; it turns true again by itself once the tier
   * answers. Calls made while it is false still work, or fail fast.
   */
  readonly healthy: boolean;
  /**
   * The cached record, or undefined when the tier does not hold a live one (miss or tombstone). Rejects, within
   * about the tier's command deadline, with a TierUnavailableError when the tier cannot answer: treat that as
   * "skip this tier", never as a miss to be cached.
   */
  get(collection: string, key: string): Promise<ContentRecord | undefined>;
  /**
   * Stores a record for ttlSeconds, but ONLY if the tier does not already hold a newer version (or a newer
   * deletion tombstone) of that key: a slow reader can never overwrite a newer write. ttlSeconds ≤ 0 stores nothing.
   */
  set(record: ContentRecord, ttlSeconds: number): Promise<void>;
  /**
   * Many keys of one collection at once, pipelined (one round trip per node): the records, in the order of `keys`,
   * undefined where the tier holds no live one. Rejects like get when the tier cannot answer.
   */
  getMany(collection: string, keys: readonly string[]): Promise<(ContentRecord | undefined)[]>;
  /** set() for many records, pipelined; each one keeps the version guard. Rejects like set. */
  setMany(records: readonly ContentRecord[], ttlSeconds: number): Promise<void>;
  /** Applies a change: drops the key (leaving a short tombstone carrying the version) unless it already holds a newer one. */
  invalidate(change: Change): Promise<void>;
  /** Resolves when the tier answers; rejects otherwise (drives /readyz). set, invalidate and ping reject like get. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

/** Why a tier call failed: the tier is down, unreachable or slower than its deadline. `cause` holds the detail. */
export class TierUnavailableError extends Error {
  readonly code = 'FG_TIER_UNAVAILABLE';
  readonly tier: string;

  constructor(tier: string, cause: unknown) {
    super(`the ${tier} tier is unavailable: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    this.name = 'TierUnavailableError';
    this.tier = tier;
  }
}
