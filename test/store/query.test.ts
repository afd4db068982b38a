// Collections over existing tables: prepareQuery on both stores, checked at prepare time, read with the key.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { after, before, describe, it } from 'node:test';
import { StoreQueryError, StoreTimeoutError } from '../../src/store/errors.ts';
import { openPostgresStore } from '../../src/store/postgres.ts';
import { openSqliteStore } from '../../src/store/sqlite.ts';
import type { Store } from '../../src/store/store.ts';
import { adminSql, dropSchema, PG_URL, uniqueName } from './pg-helpers.ts';

const AVATAR = Buffer.from([0x00, 0xff, 0xfe, 0x80, 0x41]);

/** Asserts prepareQuery rejects with StoreQueryError whose message quotes the SQL and matches `problem`. */
async function rejectsAtPrepare(store: Store, sql: string, problem: RegExp): Promise<void> {
  await assert.rejects(store.prepareQuery(sql), (err: unknown) => {
    assert.ok(err instanceof StoreQueryError, `StoreQueryError for ${sql}; got ${String(err)}`);
    assert.equal(err.code, 'FG_STORE_QUERY');
    assert.ok(err.message.includes(sql), `the message quotes the SQL: ${err.message}`);
    assert.match(err.message, problem);
    return true;
  });
}

describe('prepareQuery on SQLite', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fg-query-'));
  const file = join(dir, 'floodgate.db');
  let store: Store;
  before(async () => {
    store = await openSqliteStore({ file });
    const db = new DatabaseSync(file); // another application's table in the same file
    db.exec(`CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT, doc TEXT, avatar BLOB, score REAL);
             INSERT INTO users VALUES (42, 'bøb', '{"recs":[1,2]}', NULL, 1.5), (7, NULL, NULL, NULL, NULL);`);
    db.prepare('UPDATE users SET avatar = ? WHERE id = 42').run(AVATAR);
    db.close();
  });
  after(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('reads the first row\'s only column as bytes with ?, ?1, $1 or :name; undefined for no row or NULL', async () => {
    const byName = await store.prepareQuery('SELECT name FROM users WHERE id = ?');
    assert.equal((await byName('42'))?.toString(), 'bøb');
    assert.equal(await byName('1'), undefined);
    assert.equal(await byName('7'), undefined);
    for (const sql of ['SELECT name FROM users WHERE id = ?1', 'SELECT name FROM users WHERE id = $1', 'SELECT name FROM users WHERE id = :id']) {
      assert.equal((await (await store.prepareQuery(sql))('42'))?.toString(), 'bøb', sql);
    }
    assert.deepEqual(JSON.parse(String(await (await store.prepareQuery('SELECT doc FROM users WHERE id = ?'))('42'))), { recs: [1, 2] });
    assert.deepEqual(await (await store.prepareQuery('SELECT avatar FROM users WHERE id = ?'))('42'), AVATAR);
    assert.equal(String(await (await store.prepareQuery('SELECT score FROM users WHERE id = ?'))('42')), '1.5');
    const quoted = await store.prepareQuery("-- a comment with ? in it\nSELECT name || '?' FROM users WHERE id = ?1 OR id = ?1");
    assert.equal((await quoted('42'))?.toString(), 'bøb?');
  });

  it('rejects at prepare time, naming the problem and the SQL', async () => {
    await rejectsAtPrepare(store, 'SELEC name FROM users WHERE id = ?', /read|SQL/);
    await rejectsAtPrepare(store, 'SELECT name FROM nosuch WHERE id = ?', /no such table: nosuch/);
    await rejectsAtPrepare(store, 'SELECT nosuch FROM users WHERE id = ?', /no such column/);
    await rejectsAtPrepare(store, 'SELECT id, name FROM users WHERE id = ?', /exactly one column; it selects 2 \(id, name\)/);
    await rejectsAtPrepare(store, 'SELECT name FROM users', /exactly one parameter.*takes 0/);
    await rejectsAtPrepare(store, 'SELECT name FROM users WHERE id = ? OR name = ?', /exactly one parameter.*takes 2/);
    await rejectsAtPrepare(store, 'SELECT name FROM users WHERE id = ?2', /\?1/);
    await rejectsAtPrepare(store, 'DELETE FROM users WHERE id = ? RETURNING name', /must be a read.*DELETE/);
    await rejectsAtPrepare(store, 'SELECT name FROM users WHERE id = ?; DELETE FROM users', /exactly one statement/);
    await rejectsAtPrepare(store, '  ', /empty/);
  });

  // Issue 14.8: collection queries run on a read-only connection, so a statement that passes the text check
  // but writes (a data-modifying statement after WITH) is refused by SQLite, on a file and in memory alike.
  it('a query that writes fails and writes nothing, on the file and on :memory:', async () => {
    const memory = await openSqliteStore({ file: ':memory:' });
    try {
      await memory.put({ collection: 'default', key: 'victim', body: Buffer.from('keep me'), contentType: 'text/plain' });
      for (const [s, sql, key] of [
        [store, 'WITH x AS (SELECT 1) DELETE FROM users WHERE id = ? RETURNING name', '42'],
        [store, 'WITH x AS (SELECT 1) UPDATE users SET name = \'pwned\' WHERE id = ?1 RETURNING name', '42'],
        [memory, "WITH x AS (SELECT 1) DELETE FROM content WHERE collection = 'default' AND key = ? RETURNING key", 'victim'],
      ] as const) {
        let reader: ((key: string) => Promise<Buffer | undefined>) | undefined;
        try {
          reader = await s.prepareQuery(sql);
        } catch (err) {
          assert.ok(err instanceof StoreQueryError, String(err)); // refused early: as good
          continue;
        }
        await assert.rejects(reader(key), /readonly|read-only|query_only/i, sql);
      }
      assert.equal((await (await store.prepareQuery('SELECT name FROM users WHERE id = ?'))('42'))?.toString(), 'bøb', 'nothing was written');
      assert.equal((await memory.get('default', 'victim'))?.body.toString(), 'keep me', 'nothing was written in memory');
      await memory.put({ collection: 'default', key: 'after', body: Buffer.from('writes still work'), contentType: 'text/plain' });
      assert.equal((await memory.get('default', 'after'))?.body.toString(), 'writes still work');
    } finally {
      await memory.close();
    }
  });
});

describe('prepareQuery on PostgreSQL', () => {
  const admin = adminSql();
  const schema = uniqueName();
  const t = `"${schema}".users`;
  let store: Store;
  before(async () => {
    store = await openPostgresStore({ url: PG_URL, poolSize: 2, queueTimeoutMs: 500, schema, applicationName: uniqueName('fg_app') });
    await admin.unsafe(`CREATE TABLE ${t} (id int PRIMARY KEY, name text, doc jsonb, avatar bytea, n numeric)`);
    await admin.unsafe(`INSERT INTO ${t} VALUES (42, 'bøb', '{"recs": [1, 2]}', $1, 1.50), (7, NULL, NULL, NULL, NULL)`, [AVATAR]);
  });
  after(async () => {
    try {
      await store.close();
      await dropSchema(admin, schema);
    } finally {
      await admin.end();
    }
  });

  it('reads text, jsonb, bytea and numbers as bytes; undefined for no row, NULL, or a key that cannot be the parameter type', async () => {
    const name = await store.prepareQuery(`SELECT name FROM ${t} WHERE id = $1`);
    assert.equal((await name('42'))?.toString(), 'bøb');
    assert.equal(await name('1'), undefined);
    assert.equal(await name('7'), undefined);
    assert.equal(await name('not-a-number'), undefined);
    assert.equal(await name('99999999999'), undefined);
    assert.deepEqual(JSON.parse(String(await (await store.prepareQuery(`SELECT doc FROM ${t} WHERE id = $1`))('42'))), { recs: [1, 2] });
    assert.deepEqual(await (await store.prepareQuery(`SELECT avatar FROM ${t} WHERE id = $1`))('42'), AVATAR);
    assert.equal(String(await (await store.prepareQuery(`SELECT n FROM ${t} WHERE id = $1`))('42')), '1.50');
    const json = await store.prepareQuery(`SELECT json_build_object('id', id, 'name', name) FROM ${t} WHERE id = $1::int`);
    assert.deepEqual(JSON.parse(String(await json('42'))), { id: 42, name: 'bøb' });
  });

  it('rejects at prepare time, naming the problem and the SQL', async () => {
    await rejectsAtPrepare(store, `SELECT name FRM ${t} WHERE id = $1`, /syntax error/);
    await rejectsAtPrepare(store, `SELECT name FROM "${schema}".nosuch WHERE id = $1`, /does not exist.*42P01/);
    await rejectsAtPrepare(store, `SELECT id, name FROM ${t} WHERE id = $1`, /exactly one column; it selects 2 \(id, name\)/);
    await rejectsAtPrepare(store, `SELECT name FROM ${t}`, /exactly one parameter.*takes 0/);
    await rejectsAtPrepare(store, `SELECT name FROM ${t} WHERE id = $1 OR name = $2`, /exactly one parameter.*takes 2/);
    await rejectsAtPrepare(store, `UPDATE ${t} SET name = 'x' WHERE id = $1 RETURNING name`, /must be a read.*UPDATE/);
    await rejectsAtPrepare(store, `WITH d AS (DELETE FROM ${t} WHERE id = $1 RETURNING name) SELECT name FROM d`, /must only read/);
    await rejectsAtPrepare(store, `SELECT name FROM ${t} WHERE id = $1 FOR UPDATE`, /must only read/);
    await rejectsAtPrepare(store, `SELECT name FROM ${t} WHERE id = $1; SELECT 1`, /multiple commands/);
    const [row] = await admin.unsafe<{ n: number }[]>(`SELECT count(*)::int AS n FROM ${t}`);
    assert.equal(row?.n, 2, 'nothing was run');
  });

  // Regression (issue 14.8): the plan check passed a query calling a writing function, and an unauthenticated
  // GET deleted a record. PostgreSQL now runs collection queries read-only and refuses the write itself.
  it('a collection query that writes through a function is refused by PostgreSQL, and nothing is written', async () => {
    const victim = await store.put({ collection: 'default', key: 'victim', body: Buffer.from('keep me'), contentType: 'text/plain' });
    await admin.unsafe(`CREATE FUNCTION "${schema}".rename_user(p_id int) RETURNS text LANGUAGE sql AS $fn$ UPDATE ${t} SET name = 'pwned' WHERE id = p_id RETURNING name $fn$`);
    const writers: [string, string][] = [
      [`SELECT "${schema}".delete_content('default', $1)::text`, 'victim'],
      [`SELECT "${schema}".rename_user($1::int)`, '42'],
      // A query that turns the session's default off first still runs in a transaction that began read-only.
      [`SELECT set_config('default_transaction_read_only', 'off', false) || "${schema}".rename_user($1::int)`, '42'],
    ];
    for (const [sql, key] of writers) {
      const reader = await store.prepareQuery(sql);
      await assert.rejects(reader(key), (err: unknown) => (err as { code?: string }).code === '25006', `${sql} with ${key}`);
    }
    // Nor did the set_config attempt leave a writable connection behind for the next query.
    const rename = await store.prepareQuery(`SELECT "${schema}".rename_user($1::int)`);
    for (let i = 0; i < 4; i++) await assert.rejects(rename('42'), (err: unknown) => (err as { code?: string }).code === '25006');
    assert.equal((await store.get('default', 'victim'))?.version, victim.version, 'the record is still there');
    const [row] = await admin.unsafe<{ name: string }[]>(`SELECT name FROM ${t} WHERE id = 42`);
    assert.equal(row?.name, 'bøb');
    assert.equal((await (await store.prepareQuery(`SELECT name FROM ${t} WHERE id = $1`))('42'))?.toString(), 'bøb', 'reads still work');
  });

  // Regression: a CancelRequest sent at one call's deadline landed after that statement had ended and cancelled
  // the next statement on the reused connection, failing an innocent call (seen in CI on the test below).
  // pg_cancel_backend is the same stray cancel, made on purpose: the call it hits must still succeed.
  it('a cancel the call did not make (57014 before its deadline) is retried, not reported as a timeout', async () => {
    const app = uniqueName('fg_cancel');
    const patient = await openPostgresStore({ url: PG_URL, poolSize: 1, queueTimeoutMs: 5000, schema, applicationName: app, migrate: false });
    try {
      const sleepy = await patient.prepareQuery(`SELECT name || pg_sleep(0.3)::text FROM ${t} WHERE id = $1`);
      const pending = sleepy('42');
      let cancelled = 0;
      for (let i = 0; i < 50 && cancelled === 0; i++) {
        await new Promise((r) => setTimeout(r, 20));
        const rows = await admin`SELECT pg_cancel_backend(pid) AS ok FROM pg_stat_activity WHERE application_name = ${app} AND state = 'active' AND query LIKE '%pg_sleep(0.3)%'`;
        cancelled = rows.filter((r) => r.ok === true).length;
      }
      assert.equal(cancelled, 1, 'the running statement was cancelled from outside');
      assert.equal((await pending)?.toString(), 'bøb');
    } finally {
      await patient.close();
    }
  });

  it('a slow collection query rejects with StoreTimeoutError at the store deadline', async () => {
    const slow = await store.prepareQuery('SELECT pg_sleep(3)::text WHERE $1::text IS NOT NULL');
    const started = Date.now();
    await assert.rejects(slow('k'), StoreTimeoutError);
    assert.ok(Date.now() - started < 500 + 500);
    assert.equal((await (await store.prepareQuery(`SELECT name FROM ${t} WHERE id = $1`))('42'))?.toString(), 'bøb');
  });
});
