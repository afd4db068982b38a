// The domain's one record type. Every tier and store speaks it; nothing here knows about HTTP.

/** A stored piece of content, served byte for byte with its own Content-Type. */
export interface ContentRecord {
  readonly collection: string;
  readonly key: string;
  /** The stored bytes, answered as-is. */
  readonly body: Buffer;
  readonly contentType: string;
  /**
   * Monotonic across the whole store (a database sequence): a later write always carries a larger version,
   * so a late or repeated invalidation can never replace newer content with older.
   */
  readonly version: number;
  /** Milliseconds since the epoch, from the store. */
  readonly updatedAt: number;
}

/** What a writer hands to the store; the store assigns version and updatedAt. */
export interface ContentWrite {
  readonly collection: string;
  readonly key: string;
  readonly body: Buffer;
  readonly contentType: string;
}

/**
 * One change to one key, as carried by invalidation messages and change feeds. `deleted` changes carry the
 * version of the deletion, so a tier holding an older version knows to drop it.
 */
export interface Change {
  readonly collection: string;
  readonly key: string;
  readonly version: number;
  readonly deleted: boolean;
}

export const DEFAULT_COLLECTION = 'default';
export const DEFAULT_CONTENT_TYPE = 'text/plain; charset=utf-8';
