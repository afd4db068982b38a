// Opening the SQLite file: pragmas for several processes sharing it, and the schema.
import { DatabaseSync } from 'node:sqlite';
import { mapSqliteError } from './sqlite-errors.ts';

/**
 * content holds live records; tombstones remember deletions (with the deletion's version) so changesSince can
 * report them. A key lives in at most one of the two. Both are WITHOUT ROWID: the primary key is the row.
 */
const SCHEMA = `
CREATE TABLE IF NOT EXISTS content (
  collection   TEXT    NOT NULL,
  key          TEXT    NOT NULL,
  body         BLOB    NOT NULL,
  content_type TEXT    NOT NULL,
  version      INTEGER NOT NULL,
  updated_at   INTEGER NOT NULL,
  PRIMARY KEY (collection, key)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS content_version ON content (version);
CREATE TABLE IF NOT EXISTS tombstones (
  collection TEXT    NOT NULL,
  key        TEXT    NOT NULL,
  version    INTEGER NOT NULL,
  deleted_at INTEGER NOT NULL,
  PRIMARY KEY (collection, key)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS tombstones_version ON tombstones (version);
`;

/** Opens (creating if absent) the file in WAL mode with a busy timeout, and applies the schema. */
export function openSqliteDatabase(file: string, busyTimeoutMs: number): DatabaseSync {
  let db: DatabaseSync | undefined;
  try {
    // timeout is SQLite's busy_timeout: how long to wait for another connection's lock before SQLITE_BUSY.
    db = new DatabaseSync(file, { timeout: busyTimeoutMs });
    // WAL: readers never block the writer nor each other; NORMAL sync is durable across process crashes
    // (a power cut may lose the last commits, never corrupt the file).
    db.exec('PRAGMA journal_mode = WAL');
    db.exec('PRAGMA synchronous = NORMAL');
    db.exec('BEGIN IMMEDIATE');
    try {
      db.exec(SCHEMA);
      db.exec('COMMIT');
    } catch (err) {
      db.exec('ROLLBACK');
      throw err;
    }
    return db;
  } catch (err) {
    try {
      db?.close();
    } catch {
      // already failing; the original error is the one worth reporting
    }
    throw mapSqliteError(err, file);
  }
}
