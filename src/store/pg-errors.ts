// Turns postgres.js failures into the store's typed errors where one fits; anything else passes through as-is
// (a constraint violation is the caller's problem, not the database's availability).
import { StoreQueryError, StoreTimeoutError, StoreUnavailableError } from './errors.ts';

/** Socket and driver-level codes meaning "cannot talk to the server right now". */
const CONNECTION_CODES = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EPIPE',
  'CONNECT_TIMEOUT', 'CONNECTION_CLOSED', 'CONNECTION_ENDED', 'CONNECTION_DESTROYED',
]);
/** SQLSTATEs meaning the same from the server's side: shutting down, starting up, full, refusing us. */
const UNAVAILABLE_STATES = new Set(['57P01', '57P02', '57P03', '53300', '28000', '28P01', '3D000']);
/**
 * query_canceled (a statement_timeout or our cancel at the deadline), lock_not_available, and floodgate's own
 * FG001: a write that reached the server after its deadline and was refused (migration 002).
 */
const TIMEOUT_STATES = new Set(['57014', '55P03', 'FG001']);

export function pgErrorCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

export function mapPgError(err: unknown, what: string): unknown {
  if (err instanceof StoreUnavailableError || err instanceof StoreTimeoutError || err instanceof StoreQueryError) return err;
  const code = pgErrorCode(err);
  if (code === undefined) return err;
  if (CONNECTION_CODES.has(code) || UNAVAILABLE_STATES.has(code) || code.startsWith('08')) {
    return new StoreUnavailableError(`PostgreSQL is unavailable (${what}): ${code} ${(err as Error).message}`, { cause: err });
  }
  if (TIMEOUT_STATES.has(code)) {
    return new StoreTimeoutError(`${what} was cancelled by PostgreSQL (${code}: ${(err as Error).message})`, { cause: err });
  }
  return err;
}
