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
  /** Set by a source that decides its own freshness (an origin's Cache-Control); else the collection's TTL applies. */
  readonly freshness?: Freshness;
  /**
   * The body's validator (read-result.ts etagNumberOf), when a tier already holds it: Redis keeps it beside the
   * body, so a record read from Redis is not hashed again. Absent, it is computed from the body.
   */
  readonly etag?: number;
}

/**
 * Freshness a source gave one record, overriding the collection's TTL and the stale windows (docs/origins.md
 * says which Cache-Control directives map to which field). Not kept in Redis: a record read from Redis has the
 * collection's freshness again.
 */
export interface Freshness {
  /** Fresh for this long after it was read, ms (max-age / s-maxage); 0 = stale at once. */
  readonly ttlMs: number;
  /** Served stale while one background load refreshes it, this long after its freshness, ms (stale-while-revalidate). */
  readonly staleMs?: number;
  /** Served stale while its source fails, this long after its freshness, ms (stale-if-error). */
  readonly staleIfErrorMs?: number;
  /** Not kept by any cache (no-store): only the reads waiting on this load get it. */
  readonly noStore?: boolean;
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
