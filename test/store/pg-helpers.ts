// Shared by the PostgreSQL tests: the test database, one random schema per suite (other engineers run their
// tests against the same database at the same time), and an admin connection for plain-SQL checks.
import { randomBytes } from 'node:crypto';
import postgres from 'postgres';

import { PG_URL } from '../support/app.ts';

/** The test database: FLOODGATE_TEST_DATABASE_URL, read in one place (test/support/app.ts). */
export { PG_URL };

/** A fresh name for a schema or an application_name: fg_test_<random>. */
export function uniqueName(prefix = 'fg_test'): string {
  return `${prefix}_${randomBytes(5).toString('hex')}`;
}

export function adminSql(): postgres.Sql {
  return postgres(PG_URL, { max: 2, onnotice: () => undefined, connection: { application_name: 'fg_test_admin' } });
}

export async function dropSchema(sql: postgres.Sql, schema: string): Promise<void> {
  await sql.unsafe(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
}

/** Polls `check` every 20 ms until it returns true or `ms` passes; resolves to whether it did. */
export async function eventually(check: () => Promise<boolean> | boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  for (;;) {
    if (await check()) return true;
    if (Date.now() > end) return false;
    await new Promise((r) => setTimeout(r, 20));
  }
}
