// A cache tier between the in-process memory tier and the store (L2: Redis, standalone or Cluster).
import type { Change, ContentRecord } from '../content/record.ts';

export interface Tier {
  /** 'redis' or 'redis-cluster'. */
  readonly name: string;
  /** The cached record, or undefined when the tier does not hold a live one (miss or tombstone). */
  get(collection: string, key: string): Promise<ContentRecord | undefined>;
  /**
   * Stores a record for ttlSeconds, but ONLY if the tier does not already hold a newer version (or a newer
   * deletion tombstone) of that key: a slow reader can never overwrite a newer write.
   */
  set(record: ContentRecord, ttlSeconds: number): Promise<void>;
  /** Applies a change: drops the key (leaving a short tombstone carrying the version) unless it already holds a newer one. */
  invalidate(change: Change): Promise<void>;
  /** Resolves when the tier answers; rejects otherwise (drives /readyz). */
  ping(): Promise<void>;
  close(): Promise<void>;
}

/** Carries changes between instances (Redis pub/sub; IPC between cluster workers on the embedded default). */
export interface InvalidationBus {
  publish(change: Change): Promise<void>;
  /** Registers the handler for changes published by any instance, including this one. */
  subscribe(handler: (change: Change) => void): void;
  close(): Promise<void>;
}
