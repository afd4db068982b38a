// Writes rows straight into a store's tables with plain SQL, as another application would: nothing of
// floodgate's (no validator) sees them. For the tests of what the server does with a row it did not write.
import { DatabaseSync } from 'node:sqlite';
import { join } from 'node:path';
import postgres from 'postgres';

export interface RawRow {
  readonly collection: string;
  readonly key: string;
  readonly body: string | Buffer;
  readonly contentType: string;
}

/** Inserts (or replaces) rows in the SQLite store under `dataDir`. */
export function insertSqliteRows(dataDir: string, rows: readonly RawRow[]): void {
  const db = new DatabaseSync(join(dataDir, 'floodgate.db'));
  try {
    db.exec('PRAGMA busy_timeout = 5000');
    const next = db.prepare('SELECT coalesce(max(version), 0) + 1 AS v FROM content');
    const put = db.prepare(`INSERT INTO content (collection, key, body, content_type, version, updated_at) VALUES (?, ?, ?, ?, ?, ?)
      ON CONFLICT (collection, key) DO UPDATE SET body = excluded.body, content_type = excluded.content_type, version = excluded.version`);
    for (const r of rows) put.run(r.collection, r.key, Buffer.from(r.body), r.contentType, Number((next.get() as { v: number }).v), Date.now());
  } finally {
    db.close();
  }
}

/** Inserts (or replaces) rows in the PostgreSQL store in `schema` (its triggers stamp the version). */
export async function insertPgRows(url: string, schema: string, rows: readonly RawRow[]): Promise<void> {
  const sql = postgres(url, { max: 1, onnotice: () => undefined });
  try {
    for (const r of rows) {
      await sql.unsafe(
        `INSERT INTO "${schema}".content (collection, key, body, content_type, version, updated_at) VALUES ($1, $2, $3, $4, 0, now())
         ON CONFLICT (collection, key) DO UPDATE SET body = excluded.body, content_type = excluded.content_type`,
        [r.collection, r.key, Buffer.from(r.body), r.contentType],
      );
    }
  } finally {
    await sql.end();
  }
}

/** Makes every write of `key` fail inside the store (a trigger), so that a bulk fails part-way for real. */
export async function failWritesOf(where: { dataDir: string } | { url: string; schema: string }, key: string): Promise<void> {
  if ('dataDir' in where) {
    const db = new DatabaseSync(join(where.dataDir, 'floodgate.db'));
    try {
      db.exec(`CREATE TRIGGER fail_${key} BEFORE INSERT ON content WHEN NEW.key = '${key}' BEGIN SELECT RAISE(ABORT, 'refused by the test trigger'); END`);
    } finally {
      db.close();
    }
    return;
  }
  const sql = postgres(where.url, { max: 1, onnotice: () => undefined });
  try {
    await sql.unsafe(`CREATE FUNCTION "${where.schema}".fail_${key}() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN IF NEW.key = '${key}' THEN RAISE EXCEPTION 'refused by the test trigger'; END IF; RETURN NEW; END $$`);
    await sql.unsafe(`CREATE TRIGGER fail_${key} BEFORE INSERT ON "${where.schema}".content FOR EACH ROW EXECUTE FUNCTION "${where.schema}".fail_${key}()`);
  } finally {
    await sql.end();
  }
}
