// Collection queries on SQLite: prepared and checked once (one statement, one column, one parameter), then run
// with the key. File databases run them on a separate read-only connection, and :memory: with query_only on, so
// SQLite refuses any write they attempt.
import type { DatabaseSync, StatementSync } from 'node:sqlite';
import { checkReadOnlyText, queryError, toBytes } from './collection-query.ts';
import type { QueryReader } from './collection-query.ts';

export function prepareSqliteQuery(db: DatabaseSync, sql: string, run: <T>(fn: () => T) => T): QueryReader {
  checkReadOnlyText(sql);
  let stmt: StatementSync;
  try {
    stmt = db.prepare(sql);
  } catch (err) {
    throw queryError(`is not valid SQL here (${(err as Error).message})`, sql, err);
  }
  const rest = sql.trim().slice(stmt.sourceSQL.trim().length).trim();
  if (rest !== '' && rest !== ';') throw queryError('must be exactly one statement', sql);
  const columns = stmt.columns();
  if (columns.length !== 1) {
    throw queryError(`must select exactly one column; it selects ${columns.length} (${columns.map((c) => c.name).join(', ')})`, sql);
  }
  const params = sqliteParameters(sql);
  if (params.length !== 1) {
    throw queryError(`must take exactly one parameter (?, ?1, $1 or :name) for the key; it takes ${params.length}`, sql);
  }
  const [param] = params as [string];
  if (/^\?\d+$/.test(param) && param !== '?1') throw queryError(`must number its one parameter ?1, not ${param}`, sql);
  const named = /^[:@$]/.test(param);
  return async (key: string) => {
    const row = run(() => (named ? stmt.get({ [param]: key }) : stmt.get(key)));
    return row === undefined ? undefined : toBytes(Object.values(row)[0]);
  };
}

/**
 * The distinct parameters of a statement, as written (`?` counts once per occurrence; `?1`, `$1`, `:k`, `@k`
 * once per name). Skips string literals, quoted identifiers and comments.
 */
export function sqliteParameters(sql: string): string[] {
  const found: string[] = [];
  let i = 0;
  const skipTo = (end: string, from: number): number => {
    const at = sql.indexOf(end, from);
    return at === -1 ? sql.length : at + end.length;
  };
  while (i < sql.length) {
    const c = sql[i] as string;
    if (c === "'" || c === '"' || c === '`') i = skipTo(c, i + 1); // a doubled quote re-enters the same literal
    else if (c === '[') i = skipTo(']', i + 1);
    else if (sql.startsWith('--', i)) i = skipTo('\n', i + 2);
    else if (sql.startsWith('/*', i)) i = skipTo('*/', i + 2);
    else if (c === '?') {
      const m = /^\?\d*/.exec(sql.slice(i))?.[0] ?? '?';
      if (m === '?' || !found.includes(m)) found.push(m);
      i += m.length;
    } else if ((c === ':' || c === '@' || c === '$') && /\w/.test(sql[i + 1] ?? '')) {
      const m = /^[:@$]\w+/.exec(sql.slice(i))?.[0] ?? c;
      if (!found.includes(m)) found.push(m);
      i += m.length;
    } else i++;
  }
  return found;
}
