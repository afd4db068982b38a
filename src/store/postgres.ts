// The production store: PostgreSQL through postgres.js with a fixed pool. Every call is ONE prepared statement
// (a put, a whole putMany batch, a delete), so each is its own transaction and can be withdrawn at its deadline.
// Versions come from a sequence via triggers, so plain SQL writes by other applications take versions too.
// Writes carry their deadline in PostgreSQL's clock and are refused by the server after it (pg-deadline.ts).
import postgres from 'postgres';
import type { Change, ContentRecord, ContentWrite } from '../content/record.ts';
import { StoreUnavailableError } from './errors.ts';
import { DbClock } from './pg-clock.ts';
import { cancellable, Deadline } from './pg-deadline.ts';
import type { CancellableQuery } from './pg-deadline.ts';
import { mapPgError } from './pg-errors.ts';
import { migrate, migrationNames } from './pg-migrate.ts';
import { BYTEA, preparePgQuery } from './pg-query.ts';
import { recordsOfPage, type ScanPageRow } from './scan-page.ts';
import { pgStatements } from './pg-statements.ts';
import type { PgStatements } from './pg-statements.ts';
import { startWatch } from './pg-watch.ts';
import type { QueryReader } from './collection-query.ts';
import type { ChangeFeed, Store } from './store.ts';

export interface PostgresStoreOptions {
  readonly url: string;
  /**
   * The change feed's LISTEN connection goes here instead of `url` when set: a transaction-mode pooler
   * (PgBouncer) in front of the pool cannot hold a LISTEN, so the feed needs a direct URL of its own.
   */
  readonly listenUrl?: string;
  /** Connections at most (postgres.js `max`). */
  readonly poolSize: number;
  /** Deadline of each call, queueing included, in ms; also each pooled connection's statement_timeout. */
  readonly queueTimeoutMs: number;
  /** Schema holding floodgate's tables. */
  readonly schema: string;
  /** Shown in pg_stat_activity. Default 'floodgate'; the change feed's connection adds '-listen'. */
  readonly applicationName?: string;
  /** Apply migrations on open (default true). */
  readonly migrate?: boolean;
}

/** Seconds to wait for a TCP connection + startup before failing with StoreUnavailableError. */
const CONNECT_TIMEOUT_S = 2;

type Row = Record<string, unknown>;
type Resolve = (record: ContentRecord | undefined) => void;
type Reject = (err: unknown) => void;
/** Point reads of one collection waiting for the iteration's check phase, in parallel arrays. */
interface PendingReads { keys: string[]; resolves: Resolve[]; rejects: Reject[] }
/** Keys at most in one batched point read (`key = ANY($2)`). */
const BATCH = 256;

function recordOfRow(collection: string, key: string, row: Row): ContentRecord {
  return {
    collection, key, body: row.body as Buffer, contentType: row.content_type as string,
    version: Number(row.version), updatedAt: row.updated_at as number,
  };
}

/** Connection settings shared by the pool and the feed's listener. */
export function pgConnectionOptions(applicationName: string): postgres.Options<Record<string, postgres.PostgresType>> {
  return {
    connect_timeout: CONNECT_TIMEOUT_S,
    onnotice: () => undefined, // "already exists, skipping" and friends are not worth a console line
    // bytea_output: collection queries read raw column text and decode bytea from its hex form.
    connection: { application_name: applicationName, bytea_output: 'hex' },
  };
}

export async function openPostgresStore(opts: PostgresStoreOptions): Promise<Store> {
  const names = migrationNames(opts.schema);
  const app = opts.applicationName ?? 'floodgate';
  const base = pgConnectionOptions(app);
  const sql = postgres(opts.url, {
    ...base,
    max: opts.poolSize,
    connection: { ...base.connection, statement_timeout: Math.ceil(opts.queueTimeoutMs) },
  });
  let opened: PostgresStore;
  try {
    if (opts.migrate ?? true) await migrate(sql, opts.schema);
    opened = new PostgresStore(sql, opts, names.channelName, app);
    await opened.ping(); // the first reading of the server's clock, for write deadlines
  } catch (err) {
    await sql.end({ timeout: 0 });
    const mapped = mapPgError(err, 'opening the store');
    throw mapped instanceof Error && mapped !== err ? mapped : new StoreUnavailableError(`cannot open the PostgreSQL store: ${String(err)}`, { cause: err });
  }
  return opened;
}

/**
 * Applies pending migrations over one short-lived connection (`floodgate migrate`); resolves to the names applied.
 * Safe while instances run or start: they take the same advisory lock.
 */
export async function migratePostgres(opts: { url: string; schema: string; applicationName?: string }): Promise<string[]> {
  migrationNames(opts.schema);
  const base = pgConnectionOptions(opts.applicationName ?? 'floodgate-migrate');
  const sql = postgres(opts.url, { ...base, max: 1 });
  try {
    return await migrate(sql, opts.schema);
  } catch (err) {
    throw mapPgError(err, 'migrating');
  } finally {
    await sql.end({ timeout: 1 });
  }
}

class PostgresStore implements Store {
  readonly kind = 'postgres';
  #sql: postgres.Sql;
  #opts: PostgresStoreOptions;
  #channel: string;
  #app: string;
  #deadline: Deadline;
  #clock = new DbClock();
  #q: PgStatements;
  #closed = false;
  #stops = new Set<() => Promise<void>>();
  /** Calls started and not yet settled (for pool(): at most poolSize of them hold a connection). */
  #calls = 0;
  /** Collection queries run here: a pool whose connections start read-only, opened on first use. */
  #reader: postgres.Sql | undefined;
  /** Scans (serve --preload) run here: two connections that rule out sorts (see scan), opened on first use. */
  #scanner: postgres.Sql | undefined;
  /** The point reads asked for in this loop iteration, by collection; sent at its check phase (#flush). */
  #pending: Map<string, PendingReads> | undefined;

  constructor(sql: postgres.Sql, opts: PostgresStoreOptions, channel: string, app: string) {
    this.#sql = sql;
    this.#opts = opts;
    this.#channel = channel;
    this.#app = app;
    this.#deadline = new Deadline(opts.queueTimeoutMs);
    this.#q = pgStatements(`"${opts.schema}"`);
  }

  /**
   * A point read. The reads of one event-loop iteration are sent together at its check phase: one of them as
   * the plain `get`, several of a collection as one `getMany` (`key = ANY($2)`, up to BATCH keys a statement).
   * A campaign's misses arrive many to an iteration, and each statement costs the client and the server far
   * more than each row of it (docs/design-notes.md, "PostgreSQL: one statement for an iteration's reads").
   */
  get(collection: string, key: string): Promise<ContentRecord | undefined> {
    try {
      this.#assertOpen();
    } catch (err) {
      return Promise.reject(err);
    }
    return new Promise((resolve, reject) => {
      let batch = this.#pending;
      if (batch === undefined) {
        batch = this.#pending = new Map();
        setImmediate(this.#flush);
      }
      let reads = batch.get(collection);
      if (reads === undefined) batch.set(collection, (reads = { keys: [], resolves: [], rejects: [] }));
      reads.keys.push(key);
      reads.resolves.push(resolve);
      reads.rejects.push(reject);
    });
  }

  /** Sends the iteration's point reads. */
  readonly #flush = (): void => {
    const batch = this.#pending;
    this.#pending = undefined;
    if (batch === undefined) return;
    for (const [collection, reads] of batch) {
      for (let i = 0; i < reads.keys.length; i += BATCH) {
        const end = Math.min(reads.keys.length, i + BATCH);
        if (end - i === 1) this.#getOne(collection, reads.keys[i] as string, reads.resolves[i] as Resolve, reads.rejects[i] as Reject);
        else this.#getBatch(collection, reads.keys.slice(i, end), reads.resolves.slice(i, end), reads.rejects.slice(i, end));
      }
    }
  };

  #getOne(collection: string, key: string, resolve: Resolve, reject: Reject): void {
    this.#send(this.#q.get, [collection, key], [reject], (rows) => {
      const row = rows[0];
      resolve(row === undefined ? undefined : recordOfRow(collection, key, row));
    });
  }

  #getBatch(collection: string, keys: string[], resolves: Resolve[], rejects: Reject[]): void {
    this.#send(this.#q.getMany, [collection, keys], rejects, (rows) => {
      const byKey = new Map<string, Row>();
      for (const row of rows) byKey.set(row.key as string, row);
      for (let i = 0; i < keys.length; i++) {
        const key = keys[i] as string;
        const row = byKey.get(key);
        (resolves[i] as Resolve)(row === undefined ? undefined : recordOfRow(collection, key, row));
      }
    });
  }

  /** Runs a point read's statement; its failure (or a store closed since the reads were asked) rejects them all. */
  #send(text: string, params: unknown[], rejects: Reject[], answered: (rows: Row[]) => void): void {
    const failed = (err: unknown): void => {
      for (const reject of rejects) reject(err);
    };
    let call: Promise<Row[]>;
    try {
      call = this.#run<Row[]>('get', text, params);
    } catch (err) {
      failed(err);
      return;
    }
    call.then(answered, failed);
  }

  async getMany(collection: string, keys: readonly string[]): Promise<ContentRecord[]> {
    if (keys.length === 0) return [];
    const rows = await this.#run<Row[]>('getMany', this.#q.getMany, [collection, keys]);
    return rows.map((row) => recordOfRow(collection, row.key as string, row));
  }

  async put(write: ContentWrite): Promise<ContentRecord> {
    const [row] = await this.#write<Row[]>('put', this.#q.put, [write.collection, write.key, write.body, write.contentType]);
    if (!row) throw new Error('put returned no row');
    this.#clock.sample(row.updated_at as number); // now(): the server's clock when the statement began
    return {
      collection: write.collection, key: write.key, body: write.body, contentType: write.contentType,
      version: Number(row.version), updatedAt: row.updated_at as number,
    };
  }

  async putMany(writes: readonly ContentWrite[]): Promise<Change[]> {
    if (writes.length === 0) return [];
    // One key twice in one statement is an error for ON CONFLICT DO UPDATE: the last write of a key wins,
    // and every occurrence reports the version that was stored.
    const last = new Map<string, ContentWrite>();
    for (const w of writes) last.set(pairKey(w.collection, w.key), w);
    const unique = [...last.values()];
    const rows = await this.#write<Row[]>('putMany', this.#q.putMany, [
      unique.map((w) => w.collection), unique.map((w) => w.key), this.#sql.array(unique.map((w) => w.body), BYTEA), unique.map((w) => w.contentType),
    ]);
    const versions = new Map<string, number>();
    for (const r of rows) versions.set(pairKey(r.collection as string, r.key as string), Number(r.version));
    return writes.map((w) => ({ collection: w.collection, key: w.key, version: versions.get(pairKey(w.collection, w.key)) ?? 0, deleted: false }));
  }

  async delete(collection: string, key: string): Promise<Change | undefined> {
    const [row] = await this.#write<Row[]>('delete', this.#q.delete, [collection, key]);
    if (row?.version === null || row?.version === undefined) return undefined;
    return { collection, key, version: Number(row.version), deleted: true };
  }

  async count(collection?: string): Promise<number> {
    const [row] = collection === undefined
      ? await this.#run<Row[]>('count', this.#q.count, [])
      : await this.#run<Row[]>('count', this.#q.countIn, [collection]);
    return Number(row?.n ?? 0);
  }

  async hasAny(collection: string): Promise<boolean> {
    const [row] = await this.#run<Row[]>('hasAny', this.#q.hasAny, [collection]);
    return row?.any === true;
  }

  async recentKeys(limit: number): Promise<{ collection: string; key: string }[]> {
    const rows = await this.#run<Row[]>('recentKeys', this.#q.recentKeys, [limit]);
    return rows.map((r) => ({ collection: r.collection as string, key: r.key as string }));
  }

  /**
   * One page, read as one row (scan-page.ts; measured over 1,000,000 demo users: 2.0 s of this process's CPU
   * against 2.3-3.6 s a row per record), on connections of their own that refuse to sort: right after a big
   * import the planner's statistics can be stale (a million rows taken for two thousand), and it then plans each
   * page as a bitmap scan of every row after the key, sorted; with sorts ruled out only the primary key's ordered
   * index scan is left, which reads just the page. A page that does not split back into its records (a key
   * holding U+001F, or several content types) is read again row by row.
   */
  async scan(collection: string, afterKey: string | undefined, limit: number): Promise<ContentRecord[]> {
    if (!(limit >= 1)) return [];
    this.#assertOpen();
    const base = pgConnectionOptions(this.#app);
    this.#scanner ??= postgres(this.#opts.url, {
      ...base,
      max: 2, // a page on the wire while the caller takes in the one before
      connection: { ...base.connection, statement_timeout: Math.ceil(this.#opts.queueTimeoutMs), enable_sort: 'off' },
    });
    const scanner = this.#scanner;
    const run = <T>(text: string, params: unknown[]): Promise<T> => this.#call('scan', () => cancellable<T>(scanner.unsafe(text, params as postgres.ParameterOrJSON<never>[], { prepare: true })), false);
    const [page] = afterKey === undefined
      ? await run<ScanPageRow[]>(this.#q.scanPageFirst, [collection, limit])
      : await run<ScanPageRow[]>(this.#q.scanPageAfter, [collection, afterKey, limit]);
    const records = page === undefined ? [] : recordsOfPage(collection, page, '\x1f');
    if (records !== undefined) return records;
    const rows = afterKey === undefined
      ? await run<Row[]>(this.#q.scanFirst, [collection, limit])
      : await run<Row[]>(this.#q.scanAfter, [collection, afterKey, limit]);
    const out = new Array<ContentRecord>(rows.length);
    for (let i = 0; i < rows.length; i++) {
      const r = rows[i] as Row;
      out[i] = { collection, key: r.key as string, body: r.body as Buffer, contentType: r.content_type as string, version: Number(r.version), updatedAt: r.updated_at as number };
    }
    return out;
  }

  async ping(): Promise<void> {
    const [row] = await this.#run<Row[]>('ping', this.#q.ping, []);
    this.#clock.sample(row?.now as number);
  }

  async changesSince(sinceVersion: number, limit: number): Promise<Change[]> {
    const rows = await this.#run<Row[]>('changesSince', this.#q.changes, [sinceVersion, limit]);
    return rows.map((r) => ({ collection: r.collection as string, key: r.key as string, version: Number(r.version), deleted: r.deleted === true }));
  }

  async maxVersion(): Promise<number> {
    const [row] = await this.#run<Row[]>('maxVersion', this.#q.maxVersion, []);
    return Number(row?.v ?? 0);
  }

  /** For the change feed's lag (pg-watch.ts): see the feedLag statement. */
  async lagAfter(since: number): Promise<{ newest: number; oldest: number | undefined; now: number }> {
    const [row] = await this.#run<Row[]>('feedLag', this.#q.feedLag, [since]);
    const now = row?.now as number;
    this.#clock.sample(now);
    return { newest: Number(row?.newest ?? 0), oldest: row?.oldest === null || row?.oldest === undefined ? undefined : Number(row.oldest), now };
  }

  async prepareQuery(sql: string): Promise<QueryReader> {
    this.#assertOpen();
    // default_transaction_read_only in the startup packet: PostgreSQL itself refuses any write a collection query
    // makes (a writing function, a data-modifying CTE), at no cost per query. Connections are opened on demand,
    // up to the pool size; an instance without SQL collections never opens one.
    const base = pgConnectionOptions(this.#app);
    this.#reader ??= postgres(this.#opts.url, {
      ...base,
      max: this.#opts.poolSize,
      connection: { ...base.connection, statement_timeout: Math.ceil(this.#opts.queueTimeoutMs), default_transaction_read_only: true },
    });
    return preparePgQuery(this.#reader, this.#deadline, sql);
  }

  async watch(onChange: (change: Change) => void): Promise<ChangeFeed> {
    this.#assertOpen();
    const feed = await startWatch({
      url: this.#opts.listenUrl ?? this.#opts.url,
      options: pgConnectionOptions(`${this.#app}-listen`),
      channel: this.#channel,
      store: this,
    }, onChange);
    const once = async (): Promise<void> => {
      this.#stops.delete(once);
      await feed.stop();
    };
    this.#stops.add(once);
    return { stop: once, behind: () => feed.behind() };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await Promise.all([...this.#stops].map((stop) => stop()));
    await Promise.all([this.#sql.end({ timeout: 1 }), this.#reader?.end({ timeout: 1 }), this.#scanner?.end({ timeout: 1 })]);
  }

  pool(): { size: number; busy: number; waiting: number } {
    const size = this.#opts.poolSize;
    // The point reads asked in this iteration and not yet sent wait too: as the statements they will be.
    let unsent = 0;
    if (this.#pending !== undefined) for (const reads of this.#pending.values()) unsent += Math.ceil(reads.keys.length / BATCH);
    return { size, busy: Math.min(this.#calls, size), waiting: Math.max(0, this.#calls - size) + unsent };
  }

  #run<T>(what: string, text: string, params: unknown[]): Promise<T> {
    const args = params as postgres.ParameterOrJSON<never>[];
    return this.#call(what, () => cancellable<T>(this.#sql.unsafe(text, args, { prepare: true })), false);
  }

  /** A write: its last parameter is the call's deadline in the server's clock; never resent blindly. */
  #write<T>(what: string, text: string, params: unknown[]): Promise<T> {
    return this.#call(what, (deadlineAt) => {
      const args = [...params, this.#clock.serverTimeAt(deadlineAt)] as postgres.ParameterOrJSON<never>[];
      return cancellable<T>(this.#sql.unsafe(text, args, { prepare: true }));
    }, true);
  }

  #call<T>(what: string, make: (deadlineAt: number) => CancellableQuery<T>, write: boolean): Promise<T> {
    this.#assertOpen();
    this.#calls++;
    const settled = (): void => {
      this.#calls--;
    };
    const call = this.#deadline.run(what, make, { write });
    call.then(settled, settled);
    return call;
  }

  #assertOpen(): void {
    if (this.#closed) throw new StoreUnavailableError('the PostgreSQL store is closed');
  }
}

function pairKey(collection: string, key: string): string {
  return `${collection.length}:${collection}${key}`;
}
