// The source of truth behind one small interface. Implementations: sqlite.ts (embedded default) and
// postgres.ts (production). Both are held to one contract suite (test/store/contract.ts).
import type { Change, ContentRecord, ContentWrite } from '../content/record.ts';

export interface Store {
  /** 'sqlite' or 'postgres': shown in logs, /readyz and metrics. */
  readonly kind: string;
  /** Reads one record; undefined when absent. */
  get(collection: string, key: string): Promise<ContentRecord | undefined>;
  /** Inserts or replaces one record in a transaction and returns it with its new version. */
  put(write: ContentWrite): Promise<ContentRecord>;
  /** Removes one record; returns the change (with the deletion's version), or undefined if there was none. */
  delete(collection: string, key: string): Promise<Change | undefined>;
  /**
   * Writes many records in ONE transaction: all or nothing. Returns one change per record, in order.
   * Callers batch (the importer uses batches of a few thousand) so a transaction stays short.
   */
  putMany(writes: readonly ContentWrite[]): Promise<Change[]>;
  /** Number of records, in one collection or in all. */
  count(collection?: string): Promise<number>;
  /** Resolves when the store answers a trivial query; rejects otherwise (drives /readyz). */
  ping(): Promise<void>;
  /**
   * Changes made by anyone (this process, other instances, other applications writing plain SQL) after
   * `sinceVersion`, oldest first, at most `limit`. Used to catch up after a feed reconnects.
   */
  changesSince(sinceVersion: number, limit: number): Promise<Change[]>;
  /** The highest version the store has handed out (0 when empty). */
  maxVersion(): Promise<number>;
  /**
   * Optional live change feed (PostgreSQL LISTEN/NOTIFY). Calls `onChange` for every committed change by any
   * writer; after a reconnect it first replays what was missed (via changesSince). Returns a stop function.
   */
  watch?(onChange: (change: Change) => void): Promise<() => Promise<void>>;
  close(): Promise<void>;
}
