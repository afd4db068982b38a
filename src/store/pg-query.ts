// Collection queries on PostgreSQL: described (parsed and planned, never run) once at prepare time, then run as
// a prepared statement with the key, bounded by the store's deadline like every other call.
import type postgres from 'postgres';
import { StoreTimeoutError, StoreUnavailableError } from './errors.ts';
import { cancellable } from './pg-deadline.ts';
import type { Deadline } from './pg-deadline.ts';
import { pgErrorCode } from './pg-errors.ts';
import { checkReadOnlyText, queryError } from './collection-query.ts';
import type { QueryReader } from './collection-query.ts';

/** The type oid of bytea: a column of it is read as bytes; bodies are written as arrays of it. */
export const BYTEA = 17;
/** The key cannot be a value of the parameter's type ('abc' for an integer id): no such row, not an error. */
const KEY_MISMATCH = new Set(['22P02', '22003', '22007', '22008', '22021', '22P05']);
/** Plan nodes that show a statement writes or locks rows. */
const WRITE_NODES = ['"ModifyTable"', '"LockRows"'];

export async function preparePgQuery(sql: postgres.Sql, deadline: Deadline, text: string): Promise<QueryReader> {
  checkReadOnlyText(text);
  let described: postgres.Statement;
  try {
    described = await deadline.run('preparing a collection query', () => cancellable<postgres.Statement>(sql.unsafe(text, [], { prepare: true }).describe()));
  } catch (err) {
    throw rethrow(err, text);
  }
  if (described.types.length !== 1) {
    throw queryError(`must take exactly one parameter ($1) for the key; it takes ${described.types.length}`, text);
  }
  if (described.columns.length !== 1) {
    const names = described.columns.map((c) => c.name).join(', ');
    throw queryError(`must select exactly one column; it selects ${described.columns.length} (${names})`, text);
  }
  let plan: unknown;
  try {
    plan = await deadline.run('planning a collection query', () => sql.unsafe(`EXPLAIN (FORMAT JSON) ${text}`, [null], { prepare: false }));
  } catch (err) {
    throw rethrow(err, text);
  }
  const planText = JSON.stringify(plan);
  if (WRITE_NODES.some((node) => planText.includes(node))) throw queryError('must only read (it writes or locks rows)', text);
  const bytea = described.columns[0]?.type === BYTEA;

  return async (key: string) => {
    let rows: (Buffer | null)[][];
    try {
      rows = await deadline.run('a collection query', () => cancellable<(Buffer | null)[][]>(sql.unsafe(text, [key], { prepare: true }).raw()));
    } catch (err) {
      if (KEY_MISMATCH.has(pgErrorCode(err) ?? '')) return undefined;
      throw err;
    }
    const value = rows[0]?.[0];
    if (value === null || value === undefined) return undefined;
    // Raw values are the text format: bytea arrives as \x<hex> (bytea_output = hex is set on every connection).
    return bytea ? Buffer.from(value.toString('latin1', 2), 'hex') : value;
  };
}

function rethrow(err: unknown, text: string): Error {
  if (err instanceof StoreUnavailableError || err instanceof StoreTimeoutError) return err;
  const code = pgErrorCode(err);
  return queryError(`is not valid here (${err instanceof Error ? err.message : String(err)}${code ? `, ${code}` : ''})`, text, err);
}
