// Checks shared by both stores' collection queries (read-only SQL over the user's own tables), and the one
// place their error messages are worded: each names the problem and quotes the SQL.
import { StoreQueryError } from './errors.ts';

/** A reader for one collection: the first row's only column as bytes, or undefined when there is no row. */
export type QueryReader = (key: string) => Promise<Buffer | undefined>;

export function queryError(problem: string, sql: string, cause?: unknown): StoreQueryError {
  const shown = sql.length > 500 ? `${sql.slice(0, 500)}…` : sql;
  return new StoreQueryError(`collection query ${problem}: ${shown}`, cause === undefined ? undefined : { cause });
}

/** Rejects what cannot be a read: the statement must start with SELECT, WITH, VALUES or TABLE. */
export function checkReadOnlyText(sql: string): void {
  const first = /^[\s(]*(\w+)/.exec(stripLeadingComments(sql))?.[1]?.toLowerCase();
  if (first === undefined) throw queryError('is empty', sql);
  if (!['select', 'with', 'values', 'table'].includes(first)) {
    throw queryError(`must be a read (SELECT or WITH …); it starts with ${first.toUpperCase()}`, sql);
  }
}

function stripLeadingComments(sql: string): string {
  let rest = sql.trimStart();
  for (;;) {
    if (rest.startsWith('--')) rest = rest.slice(rest.indexOf('\n') === -1 ? rest.length : rest.indexOf('\n')).trimStart();
    else if (rest.startsWith('/*')) rest = rest.slice(rest.indexOf('*/') === -1 ? rest.length : rest.indexOf('*/') + 2).trimStart();
    else return rest;
  }
}

/** Column values as the bytes a collection serves: text as UTF-8, numbers as their decimal text, blobs as-is. */
export function toBytes(value: unknown): Buffer | undefined {
  if (value === null || value === undefined) return undefined;
  if (Buffer.isBuffer(value)) return value;
  if (value instanceof Uint8Array) return Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  return Buffer.from(typeof value === 'string' ? value : String(value), 'utf8');
}
