// The PostgreSQL store: the contract, migrations, and what plain SQL from other applications does.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { command as migrateCommand } from '../../src/cli/migrate.ts';
import { StoreUnavailableError } from '../../src/store/errors.ts';
import { MIGRATIONS } from '../../src/store/migrations/index.ts';
import { migrate } from '../../src/store/pg-migrate.ts';
import { openPostgresStore } from '../../src/store/postgres.ts';
import type { PostgresStoreOptions } from '../../src/store/postgres.ts';
import type { Store } from '../../src/store/store.ts';
import { storeCloseContract, storeContract } from './contract.ts';
import { adminSql, dropSchema, PG_URL, uniqueName } from './pg-helpers.ts';

const admin = adminSql();
const schemas: string[] = [];
const open = (extra: Partial<PostgresStoreOptions> = {}): Promise<Store> => {
  const schema = extra.schema ?? uniqueName();
  if (/^fg_test_[0-9a-f]+$/.test(schema) && !schemas.includes(schema)) schemas.push(schema);
  return openPostgresStore({ url: PG_URL, poolSize: 4, queueTimeoutMs: 5000, schema, applicationName: uniqueName('fg_app'), ...extra });
};
after(async () => {
  try {
    for (const s of schemas) await dropSchema(admin, s);
  } finally {
    await admin.end();
  }
});

storeContract('postgres', () => open());
storeCloseContract('postgres', () => open());

describe('PostgreSQL migrations', () => {
  it('several instances starting at once apply each migration exactly once', async () => {
    const schema = uniqueName();
    const stores = await Promise.all([1, 2, 3, 4].map(() => open({ schema })));
    try {
      const rows = await admin.unsafe<{ id: number }[]>(`SELECT id FROM "${schema}".migrations ORDER BY id`);
      assert.deepEqual(rows.map((r) => r.id), MIGRATIONS.map((m) => m.id));
      assert.deepEqual(await migrate(admin, schema), [], 'nothing left to apply');
      await stores[0]?.put({ collection: 'c', key: 'k', body: Buffer.from('x'), contentType: 'text/plain' });
      assert.equal(await stores[3]?.count(), 1);
    } finally {
      await Promise.all(stores.map((s) => s.close()));
    }
  });

  it('floodgate migrate applies, then finds the schema up to date; a bad URL is a usage error', async () => {
    const schema = uniqueName();
    schemas.push(schema);
    assert.equal(await migrateCommand.run(['--database-url', PG_URL, '--db-schema', schema]), 0);
    const [row] = await admin.unsafe<{ n: number }[]>(`SELECT count(*)::int AS n FROM "${schema}".migrations`);
    assert.equal(row?.n, MIGRATIONS.length);
    assert.equal(await migrateCommand.run(['--database-url', PG_URL, '--db-schema', schema]), 0);
    assert.equal(await migrateCommand.run(['--database-url', 'mysql://nope']), 2);
    assert.equal(await migrateCommand.run(['--database-url', 'postgres://postgres@127.0.0.1:1/test']), 1);
  });

  it('rejects a schema name that is not a plain identifier', async () => {
    await assert.rejects(open({ schema: 'Bad-Name"; DROP' }), RangeError);
  });
});

describe('PostgreSQL store and plain SQL writers', () => {
  const schema = uniqueName();
  let store: Store;
  const s = `"${schema}"`;
  before(async () => {
    store = await open({ schema });
  });
  after(async () => {
    await store.close();
  });

  it('a plain UPDATE by another application takes a new version and timestamp', async () => {
    const put = await store.put({ collection: 'c', key: 'u', body: Buffer.from('old'), contentType: 'text/plain' });
    await admin.unsafe(`UPDATE ${s}.content SET body = convert_to('new', 'UTF8') WHERE collection = 'c' AND key = 'u'`);
    const got = await store.get('c', 'u');
    assert.equal(got?.body.toString(), 'new');
    assert.ok(got && got.version > put.version);
    assert.ok(got.updatedAt >= put.updatedAt);
  });

  it('a plain INSERT needs no version, and a plain DELETE leaves a tombstone for changesSince', async () => {
    const since = await store.maxVersion();
    await admin.unsafe(`INSERT INTO ${s}.content (collection, key, body) VALUES ('c', 'ext', '\\x00ff'::bytea)`);
    const got = await store.get('c', 'ext');
    assert.deepEqual(got?.body, Buffer.from([0x00, 0xff]));
    assert.equal(got?.contentType, 'text/plain; charset=utf-8');
    await admin.unsafe(`DELETE FROM ${s}.content WHERE collection = 'c' AND key = 'ext'`);
    const changes = (await store.changesSince(since, 100)).filter((c) => c.key === 'ext');
    assert.equal(changes.length, 1);
    assert.equal(changes[0]?.deleted, true);
    assert.ok((changes[0]?.version ?? 0) > (got?.version ?? Infinity));
  });

  it('renaming a key by plain SQL reports the old key as deleted', async () => {
    const since = await store.maxVersion();
    await store.put({ collection: 'c', key: 'from', body: Buffer.from('x'), contentType: 'text/plain' });
    await admin.unsafe(`UPDATE ${s}.content SET key = 'to' WHERE collection = 'c' AND key = 'from'`);
    const changes = (await store.changesSince(since, 100)).filter((c) => c.key === 'from' || c.key === 'to');
    assert.deepEqual(changes.map((c) => [c.key, c.deleted]).sort(), [['from', true], ['to', false]]);
  });

  it('TRUNCATE leaves a tombstone for every key', async () => {
    const other = await open();
    try {
      await other.putMany([1, 2, 3].map((i) => ({ collection: 't', key: `${i}`, body: Buffer.from('x'), contentType: 'text/plain' })));
      const since = await other.maxVersion();
      const otherSchema = schemas.at(-1) ?? '';
      await admin.unsafe(`TRUNCATE "${otherSchema}".content`);
      const changes = await other.changesSince(since, 100);
      assert.deepEqual(changes.map((c) => [c.key, c.deleted]).sort(), [['1', true], ['2', true], ['3', true]]);
      assert.equal(await other.count(), 0);
    } finally {
      await other.close();
    }
  });

  it('putMany with one key twice stores the last body', async () => {
    const changes = await store.putMany(['a', 'b', 'c'].map((b) => ({ collection: 'dup', key: 'k', body: Buffer.from(b), contentType: 'text/plain' })));
    assert.equal(changes.length, 3);
    const got = await store.get('dup', 'k');
    assert.equal(got?.body.toString(), 'c');
    assert.equal(changes[2]?.version, got.version);
  });
});

describe('PostgreSQL store availability', () => {
  it('an unreachable server rejects with StoreUnavailableError quickly', async () => {
    const started = Date.now();
    await assert.rejects(
      openPostgresStore({ url: 'postgres://postgres@127.0.0.1:1/test', poolSize: 2, queueTimeoutMs: 1000, schema: 'floodgate' }),
      (err: unknown) => err instanceof StoreUnavailableError && err.code === 'FG_STORE_UNAVAILABLE',
    );
    assert.ok(Date.now() - started < 5000);
  });

  it('recovers after its connections are killed: calls reject as unavailable or succeed, then succeed', async () => {
    const app = uniqueName('fg_app');
    const store = await open({ applicationName: app });
    try {
      await store.ping();
      const killed = await admin`SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity WHERE application_name = ${app}`;
      assert.ok(killed.length > 0 && killed.every((r) => r.ok === true), `a backend of ${app} was terminated (got ${JSON.stringify(killed)})`);
      for (let i = 0; i < 3; i++) {
        await store.ping().catch((err: unknown) => assert.ok(err instanceof StoreUnavailableError, String(err)));
      }
      await store.ping();
    } finally {
      await store.close();
    }
  });
});
