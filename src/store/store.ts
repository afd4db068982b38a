// The source of truth behind one small interface. Implementations: sqlite.ts (embedded default) and
// postgres.ts (production). Both are held to one contract suite (test/store/contract.ts).
import type { Change, ContentRecord, ContentWrite } from '../content/record.ts';

export interface Store {
  /** 'sqlite' or 'postgres': shown in logs, /readyz and metrics. */
  readonly kind: string;
  /** Reads one record; undefined when absent. */
  get(collection: string, key: string): Promise<ContentRecord | undefined>;
  /**
   * Reads many records of one collection in ONE query (`floodgate warm` asks a few hundred keys a call). Answers
   * the records that exist, in no particular order; absent keys are left out, a key given twice is answered once.
   */
  getMany(collection: string, keys: readonly string[]): Promise<ContentRecord[]>;
  /** Inserts or replaces one record in a transaction and returns it with its new version. */
  put(write: ContentWrite): Promise<ContentRecord>;
  /** Removes one record; returns the change (with the deletion's version), or undefined if there was none. */
  delete(collection: string, key: string): Promise<Change | undefined>;
  /**
   * Writes many records in ONE transaction: all or nothing. Returns one change per record, in order.
   * Callers batch (the importer uses batches of a few thousand) so a transaction stays short.
   */
  putMany(writes: readonly ContentWrite[]): Promise<Change[]>;
  /** Number of records, in one collection or in all (a full count: for tests and tools, not for every start). */
  count(collection?: string): Promise<number>;
  /** Whether the collection holds any record: one index probe, whatever its size (seeding asks it at start). */
  hasAny(collection: string): Promise<boolean>;
  /** The keys of the `limit` most recently written records, newest first (a backward scan of the version index). */
  recentKeys(limit: number): Promise<{ collection: string; key: string }[]>;
  /**
   * The records of one collection in the order of its primary key, those after `afterKey` (from the first when
   * undefined), at most `limit`: one page of a keyset scan, each page one indexed range query. Fewer than `limit`
   * records means the collection ends there. Pass the last key of a page to read the next one (serve --preload
   * streams collections into memory this way, never in one giant query). The bodies of one page may be views of
   * one buffer: a caller keeping a body for long copies it (the memory tier copies every body into its slabs).
   */
  scan(collection: string, afterKey: string | undefined, limit: number): Promise<ContentRecord[]>;
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
   * Prepares a read-only query over an existing table, for a collection served from the user's own data: one
   * statement selecting exactly one column with exactly one parameter for the key ($1 on PostgreSQL; ?, ?1, $1
   * or :name on SQLite). It is checked now, without being run: anything unusable (bad SQL, a missing table or
   * column, not one parameter, not one column, not a read) rejects with StoreQueryError naming the problem and
   * the SQL. The reader answers the first row's only column as bytes (text as UTF-8, json/jsonb as JSON text,
   * bytea/blob as-is, numbers as decimal text), or undefined when there is no row (or the value is NULL).
   */
  prepareQuery(sql: string): Promise<(key: string) => Promise<Buffer | undefined>>;
  /**
   * Optional live change feed (PostgreSQL LISTEN/NOTIFY). Calls `onChange` for every committed change by any
   * writer; after a reconnect it first replays what was missed (via changesSince).
   */
  watch?(onChange: (change: Change) => void): Promise<ChangeFeed>;
  /** The connection pool right now, where there is one (PostgreSQL): size, calls running, calls waiting for a connection. */
  pool?(): { size: number; busy: number; waiting: number };
  close(): Promise<void>;
}

/** A running change feed. */
export interface ChangeFeed {
  stop(): Promise<void>;
  /**
   * How far behind the store the feed is right now, asked of the store itself (one query, index probes), all in
   * the store's clock: `versions` the store has committed beyond the last one delivered, and `seconds` since the
   * oldest change not yet delivered was written (its transaction's start); both 0 when caught up.
   */
  behind(): Promise<FeedLag>;
}

export interface FeedLag {
  readonly seconds: number;
  readonly versions: number;
}
