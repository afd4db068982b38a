// Applies the PostgreSQL migrations in one transaction under an advisory lock, so several instances starting
// at once apply each migration exactly once (the others wait, then find nothing left to do).
import type postgres from 'postgres';
import { MIGRATIONS } from './migrations/index.ts';
import type { MigrationNames } from './migrations/index.ts';

/** First key of the advisory lock ('fgmi'); the second is hashtext(schema), so schemas migrate independently. */
const LOCK_CLASS = 0x66676d69;

/** floodgate's objects live in one schema; a plain identifier keeps it safe to embed and to name a channel after. */
export function checkSchemaName(schema: string): void {
  if (!/^[a-z_][a-z0-9_]{0,47}$/.test(schema)) {
    throw new RangeError(`store schema must be a lower-case SQL identifier of at most 48 characters ([a-z_][a-z0-9_]*); got '${schema}'`);
  }
}

export function migrationNames(schema: string): MigrationNames & { channelName: string } {
  checkSchemaName(schema);
  const channelName = `${schema}_changes`;
  return { schema: `"${schema}"`, channel: `'${channelName}'`, channelName };
}

/** Applies what is missing; resolves to the names of the migrations this call applied (empty when up to date). */
export async function migrate(sql: postgres.Sql, schema: string): Promise<string[]> {
  const names = migrationNames(schema);
  const s = names.schema;
  return sql.begin(async (tx) => {
    // Pool connections carry a statement_timeout equal to the call deadline; DDL and the lock wait may take longer.
    await tx`SET LOCAL statement_timeout = 0`;
    await tx`SELECT pg_advisory_xact_lock(${LOCK_CLASS}, hashtext(${schema}))`;
    await tx.unsafe(`CREATE SCHEMA IF NOT EXISTS ${s}`);
    await tx.unsafe(`CREATE TABLE IF NOT EXISTS ${s}.migrations (
      id integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`);
    const rows = await tx.unsafe<{ id: number }[]>(`SELECT id FROM ${s}.migrations`);
    const done = new Set(rows.map((r) => r.id));
    const applied: string[] = [];
    for (const m of MIGRATIONS) {
      if (done.has(m.id)) continue;
      await tx.unsafe(m.sql(names));
      await tx.unsafe(`INSERT INTO ${s}.migrations (id, name) VALUES ($1, $2)`, [m.id, m.name]);
      applied.push(m.name);
    }
    return applied;
  });
}
