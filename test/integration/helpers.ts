// Shared by the integration tests: a PostgreSQL schema of their own (dropped on dispose), plain HTTP calls,
// and polling for a condition with a deadline. Every test starts real `floodgate serve` processes
// (test/support/serve.ts) against the shared PostgreSQL and its own redis-server.
import { randomBytes } from 'node:crypto';
import postgres from 'postgres';

import { PG_URL } from '../support/app.ts';

/** The test database: FLOODGATE_TEST_DATABASE_URL, read in one place (test/support/app.ts). */
export { PG_URL };
export const ADMIN_TOKEN = 'it-admin-token';
/** The environment every test server gets: writes enabled with ADMIN_TOKEN. */
export const SERVER_ENV = { FLOODGATE_ADMIN_TOKEN: ADMIN_TOKEN };

export interface PgSchema extends AsyncDisposable {
  /** fg_it_<random>: give it to the server as --db-schema. */
  readonly name: string;
  /** An admin connection for plain-SQL writes and checks ("another application"). */
  readonly sql: postgres.Sql;
}

/** A fresh schema name; the schema itself is created by the first server's migrations. Dropped (CASCADE) on dispose. */
export function pgSchema(): PgSchema {
  const name = `fg_it_${randomBytes(5).toString('hex')}`;
  const sql = postgres(PG_URL, { max: 2, onnotice: () => undefined, connection: { application_name: 'fg_it_admin' } });
  return {
    name,
    sql,
    [Symbol.asyncDispose]: async () => {
      try {
        await sql.unsafe(`DROP SCHEMA IF EXISTS "${name}" CASCADE`);
      } finally {
        await sql.end({ timeout: 1 });
      }
    },
  };
}

/** The serve flags for PostgreSQL in `schema`. */
export function pgArgs(schema: string, url = PG_URL): string[] {
  return ['--database-url', url, '--db-schema', schema];
}

export interface Answer {
  status: number;
  body: string;
  headers: Headers;
}

export async function get(url: string, init: RequestInit = {}): Promise<Answer> {
  const res = await fetch(url, { ...init, signal: AbortSignal.timeout(10_000) });
  return { status: res.status, body: await res.text(), headers: res.headers };
}

export function put(base: string, collection: string, key: string, body: string, contentType = 'text/plain'): Promise<Answer> {
  return get(`${base}/v1/content/${collection}/${encodeURIComponent(key)}`, {
    method: 'PUT',
    body,
    headers: { Authorization: `Bearer ${ADMIN_TOKEN}`, 'Content-Type': contentType },
  });
}

export function del(base: string, collection: string, key: string): Promise<Answer> {
  return get(`${base}/v1/content/${collection}/${encodeURIComponent(key)}`, { method: 'DELETE', headers: { Authorization: `Bearer ${ADMIN_TOKEN}` } });
}

export function read(base: string, collection: string, key: string): Promise<Answer> {
  return get(`${base}/v1/content/${collection}/${encodeURIComponent(key)}`);
}

/**
 * Polls `check` (every `everyMs`) until it returns true or `ms` passes. Resolves to the milliseconds it took,
 * or undefined when it never became true.
 */
export async function within(ms: number, check: () => Promise<boolean> | boolean, everyMs = 5): Promise<number | undefined> {
  const start = performance.now();
  for (;;) {
    if (await check()) return performance.now() - start;
    if (performance.now() - start > ms) return undefined;
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[mid] ?? NaN) : ((s[mid - 1] ?? NaN) + (s[mid] ?? NaN)) / 2;
}

/** Things to dispose of after a suite, last in first out: `const res = new Resources(); after(() => res.dispose());` */
export class Resources {
  #items: AsyncDisposable[] = [];

  use<T extends AsyncDisposable>(item: T): T {
    this.#items.push(item);
    return item;
  }

  async dispose(): Promise<void> {
    const errors: unknown[] = [];
    for (const item of this.#items.splice(0).reverse()) {
      try {
        await item[Symbol.asyncDispose]();
      } catch (err) {
        errors.push(err);
      }
    }
    if (errors.length > 0) throw new AggregateError(errors, 'cleanup failed');
  }
}
