// The PostgreSQL store's statements, built once per schema and prepared by postgres.js on each connection.
// updated_at is answered as float8 milliseconds (parsed by postgres.js to a number); version (bigint) as text.
// Every write takes a last parameter, its deadline in PostgreSQL's clock (epoch ms, from pg-clock.ts): after
// writing each row it checks clock_timestamp() and, past the deadline, aborts the statement (migration 002).
import { scanPageSql, type ScanDialect } from './scan-page.ts';

export interface PgStatements {
  readonly get: string;
  readonly getMany: string;
  readonly put: string;
  readonly putMany: string;
  readonly delete: string;
  readonly count: string;
  readonly countIn: string;
  readonly hasAny: string;
  readonly recentKeys: string;
  readonly changes: string;
  readonly maxVersion: string;
  readonly feedLag: string;
  readonly ping: string;
  readonly scanFirst: string;
  readonly scanAfter: string;
  readonly scanPageFirst: string;
  readonly scanPageAfter: string;
}

/** A page of the scan as one row (scan-page.ts): keys joined by U+001F (a control character, which no key may hold). */
const PG_PAGE: ScanDialect = { keys: "string_agg(key, E'\\x1f')", bodies: "string_agg(body, ''::bytea)", text: (e) => `(${e})::text`, ms: 'floor(extract(epoch FROM updated_at) * 1000)::bigint' };

const MS = 'floor(extract(epoch FROM updated_at) * 1000)::float8';
/** `version`, unless the deadline (parameter $n, epoch ms) has passed: then the statement aborts (FG001). */
const inTime = (s: string, n: number, version: string): string =>
  `CASE WHEN clock_timestamp() <= to_timestamp($${n}::float8 / 1000) THEN ${version} ELSE ${s}.deadline_passed() END`;

/** `s` is the quoted schema identifier. */
export function pgStatements(s: string): PgStatements {
  return {
    get: `SELECT body, content_type, version, ${MS} AS updated_at FROM ${s}.content WHERE collection = $1 AND key = $2`,
    getMany: `SELECT key, body, content_type, version, ${MS} AS updated_at FROM ${s}.content WHERE collection = $1 AND key = ANY($2::text[])`,
    put: `INSERT INTO ${s}.content (collection, key, body, content_type) VALUES ($1, $2, $3, $4)
          ON CONFLICT (collection, key) DO UPDATE SET body = EXCLUDED.body, content_type = EXCLUDED.content_type
          RETURNING ${inTime(s, 5, 'version')} AS version, ${MS} AS updated_at`,
    // One statement for the whole batch: atomic, one round trip, one prepared plan whatever the batch size.
    putMany: `INSERT INTO ${s}.content (collection, key, body, content_type)
              SELECT c, k, b, t FROM unnest($1::text[], $2::text[], $3::bytea[], $4::text[]) WITH ORDINALITY AS w (c, k, b, t, n)
              ORDER BY n
              ON CONFLICT (collection, key) DO UPDATE SET body = EXCLUDED.body, content_type = EXCLUDED.content_type
              RETURNING collection, key, ${inTime(s, 5, 'version')} AS version`,
    delete: `SELECT ${inTime(s, 3, 'd.v')} AS version FROM ${s}.delete_content($1, $2) AS d (v)`,
    count: `SELECT count(*) AS n FROM ${s}.content`,
    countIn: `SELECT count(*) AS n FROM ${s}.content WHERE collection = $1`,
    hasAny: `SELECT EXISTS (SELECT 1 FROM ${s}.content WHERE collection = $1) AS any`,
    recentKeys: `SELECT collection, key FROM ${s}.content ORDER BY version DESC LIMIT $1`,
    changes: `SELECT collection, key, version, false AS deleted FROM ${s}.content WHERE version > $1
              UNION ALL SELECT collection, key, version, true FROM ${s}.tombstones WHERE version > $1
              ORDER BY version LIMIT $2`,
    maxVersion: `SELECT greatest((SELECT max(version) FROM ${s}.content), (SELECT max(version) FROM ${s}.tombstones), 0) AS v`,
    // How far a change feed that has seen everything up to $1 is behind: the newest version, when the oldest
    // change after $1 was written (its transaction's now(), epoch ms; NULL when there is none), and the server's
    // clock now. Index probes only (the version indexes), however far behind.
    feedLag: `SELECT greatest((SELECT max(version) FROM ${s}.content), (SELECT max(version) FROM ${s}.tombstones), 0) AS newest,
              least((SELECT ${MS} FROM ${s}.content WHERE version > $1 ORDER BY version LIMIT 1),
                    (SELECT floor(extract(epoch FROM deleted_at) * 1000)::float8 FROM ${s}.tombstones WHERE version > $1 ORDER BY version LIMIT 1)) AS oldest,
              floor(extract(epoch FROM clock_timestamp()) * 1000)::float8 AS now`,
    // Also a reading of PostgreSQL's clock for pg-clock.ts.
    ping: 'SELECT floor(extract(epoch FROM clock_timestamp()) * 1000)::float8 AS now',
    // A page of a keyset scan, in the primary key's order (an index range scan of content_pkey).
    scanFirst: `SELECT key, body, content_type, version, ${MS} AS updated_at FROM ${s}.content WHERE collection = $1 ORDER BY key LIMIT $2`,
    scanAfter: `SELECT key, body, content_type, version, ${MS} AS updated_at FROM ${s}.content WHERE collection = $1 AND key > $2 ORDER BY key LIMIT $3`,
    scanPageFirst: scanPageSql(`SELECT key, body, content_type, version, updated_at FROM ${s}.content WHERE collection = $1 ORDER BY key LIMIT $2`, PG_PAGE),
    scanPageAfter: scanPageSql(`SELECT key, body, content_type, version, updated_at FROM ${s}.content WHERE collection = $1 AND key > $2 ORDER BY key LIMIT $3`, PG_PAGE),
  };
}
