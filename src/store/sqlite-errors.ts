// Turns node:sqlite failures into the store's typed errors where one fits (beside pg-errors.ts for PostgreSQL);
// anything else passes through as-is.
import { StoreTimeoutError, StoreUnavailableError } from './errors.ts';

// SQLite primary result codes (https://sqlite.org/rescode.html); extended codes keep them in the low byte.
const BUSY = new Set([5, 6]); // SQLITE_BUSY, SQLITE_LOCKED
const UNAVAILABLE = new Set([8, 10, 11, 13, 14, 26]); // READONLY, IOERR, CORRUPT, FULL, CANTOPEN, NOTADB

/** Turns node:sqlite's errors into the store's typed errors where one fits; anything else is returned as-is. */
export function mapSqliteError(err: unknown, file: string): unknown {
  if (!(err instanceof Error)) return err;
  const errcode = (err as { errcode?: unknown }).errcode;
  const primary = typeof errcode === 'number' ? errcode & 0xff : undefined;
  if (primary !== undefined && BUSY.has(primary)) {
    return new StoreTimeoutError(`the SQLite file ${file} stayed locked by another writer past the busy timeout`, { cause: err });
  }
  if (primary !== undefined && UNAVAILABLE.has(primary)) {
    return new StoreUnavailableError(`the SQLite file ${file} is unusable: ${err.message}`, { cause: err });
  }
  if ((err as { code?: unknown }).code === 'ERR_INVALID_STATE') {
    return new StoreUnavailableError(`the SQLite store ${file} is closed`, { cause: err });
  }
  return err;
}
