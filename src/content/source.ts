// Source: where a collection's content comes from, below the caches (../shared/DESIGN.md: "Every source sits
// behind one small interface; the tiers above it do not know which one they front"). Three kinds: the store
// (sources.ts), a read-only SQL query over the user's own table (sources.ts), an HTTP origin (src/origin/).
import type { ContentRecord } from './record.ts';

/** What one read of a source is given besides its key. */
export interface SourceRead {
  /** Request headers the collection forwards (lower-case names), from the read that started the load. */
  readonly headers: Readonly<Record<string, string>> | undefined;
  /** A refresh of stale content being served meanwhile: nobody waits on it, so it may yield to reads that do. */
  readonly background: boolean;
  /**
   * An answer that arrived after read() had already given up on it (an origin slower than its timeout): the
   * service fills the caches with it, so the next read has it.
   */
  readonly late: (record: ContentRecord) => void;
}

export interface Source {
  readonly kind: 'store' | 'query' | 'origin';
  /**
   * The content of a key, or undefined when it does not exist (cached negatively). Rejects when the source
   * cannot answer: an error with code FG_STORE_UNAVAILABLE / FG_STORE_TIMEOUT (store, query) or
   * FG_ORIGIN_UNAVAILABLE / FG_ORIGIN_TIMEOUT (origin) is answered degraded (stale, fallback, else 503).
   */
  read(collection: string, key: string, ctx: SourceRead): Promise<ContentRecord | undefined>;
  /** How DELETE on a key of this collection is answered: deleted in the store, or dropped from the caches only (purge). */
  readonly onDelete: 'delete' | 'purge' | 'refuse';
  /** Whether PUT and _bulk may write it (false: 405, FG_ERR_READ_ONLY_COLLECTION). */
  readonly writable: boolean;
  /** Words for the 405 message: "a read-only SQL collection". */
  readonly describe: string;
  /** Request headers read() wants (lower-case); empty for most sources, so the hot path builds nothing. */
  readonly forwardHeaders: readonly string[];
  close?(): Promise<void>;
}
