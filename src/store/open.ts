// Chooses the store from configuration: SQLite in the data directory unless a PostgreSQL URL is given.
// The PostgreSQL driver is only loaded when it is used.
import { join } from 'node:path';
import type { Config } from '../config.ts';
import type { Store } from './store.ts';

export interface StoreOptions {
  /** Empty: the embedded SQLite file. postgres:// or postgresql://: PostgreSQL. */
  readonly databaseUrl: string;
  /** PostgreSQL: the URL of the change feed's LISTEN connection; empty or absent = databaseUrl (see listenDatabaseUrl). */
  readonly listenUrl?: string;
  /** Directory holding floodgate.db when databaseUrl is empty. */
  readonly dataDir: string;
  /** PostgreSQL connections at most, per process. Default 10. */
  readonly poolSize?: number;
  /** Deadline of one store call (waiting for a pooled connection + running), in ms. Default 1000. */
  readonly queueTimeoutMs?: number;
  /** PostgreSQL schema holding floodgate's tables. Default 'floodgate'. */
  readonly schema?: string;
  /** PostgreSQL: apply pending migrations on open (default true; cluster workers pass false, the primary migrated). */
  readonly migrate?: boolean;
}

export const STORE_DEFAULTS = {
  poolSize: 10, // connections per process
  queueTimeoutMs: 1000, // ms per store call, queueing included
  schema: 'floodgate',
  sqliteFile: 'floodgate.db', // inside dataDir
} as const;

/**
 * The store options of a configuration, the one mapping from Config to StoreOptions. `override` is what a
 * command sets differently from serving: a one-off job's longer deadline, one connection, no migration.
 */
export function storeOptions(config: Pick<Config, 'databaseUrl' | 'listenDatabaseUrl' | 'dataDir' | 'dbPool' | 'storeTimeout' | 'dbSchema'>, override: Partial<StoreOptions> = {}): StoreOptions {
  return { databaseUrl: config.databaseUrl, listenUrl: config.listenDatabaseUrl, dataDir: config.dataDir, poolSize: config.dbPool, queueTimeoutMs: config.storeTimeout, schema: config.dbSchema, ...override };
}

/** A one-off job's deadline per store call (seeding, importing): at least 30 s, queueing behind a running server included. */
export function batchTimeoutMs(config: Pick<Config, 'storeTimeout'>): number {
  return Math.max(config.storeTimeout, 30_000);
}

export async function openStore(opts: StoreOptions): Promise<Store> {
  const url = opts.databaseUrl.trim();
  const queueTimeoutMs = opts.queueTimeoutMs ?? STORE_DEFAULTS.queueTimeoutMs;
  const poolSize = opts.poolSize ?? STORE_DEFAULTS.poolSize;
  if (!Number.isInteger(poolSize) || poolSize < 1) throw new RangeError(`store poolSize must be an integer >= 1; got ${poolSize}`);
  if (!Number.isFinite(queueTimeoutMs) || queueTimeoutMs <= 0) {
    throw new RangeError(`store queueTimeoutMs must be a number of milliseconds > 0; got ${queueTimeoutMs}`);
  }
  if (url === '') {
    const { openSqliteStore } = await import('./sqlite.ts');
    return openSqliteStore({ file: join(opts.dataDir, STORE_DEFAULTS.sqliteFile), busyTimeoutMs: Math.max(queueTimeoutMs, 1000) });
  }
  if (/^postgres(ql)?:\/\//i.test(url)) {
    const { openPostgresStore } = await import('./postgres.ts');
    return openPostgresStore({
      url,
      listenUrl: opts.listenUrl?.trim() || undefined,
      poolSize,
      queueTimeoutMs,
      schema: opts.schema ?? STORE_DEFAULTS.schema,
      migrate: opts.migrate ?? true,
    });
  }
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(url)?.[1];
  throw new Error(
    `DATABASE_URL must be empty (embedded SQLite in the data directory) or start with postgres:// or postgresql://; ` +
      (scheme ? `got a '${scheme}:' URL` : 'got something that is not a URL'),
  );
}
