// openStore picks the store from the configuration.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { StoreUnavailableError } from '../../src/store/errors.ts';
import { openStore } from '../../src/store/open.ts';
import { adminSql, dropSchema, PG_URL, uniqueName } from './pg-helpers.ts';

const dir = mkdtempSync(join(tmpdir(), 'fg-open-'));
const admin = adminSql();
const schema = uniqueName();
after(async () => {
  rmSync(dir, { recursive: true, force: true });
  try {
    await dropSchema(admin, schema);
  } finally {
    await admin.end();
  }
});

describe('openStore', () => {
  it('an empty databaseUrl opens SQLite at <dataDir>/floodgate.db', async () => {
    const store = await openStore({ databaseUrl: '', dataDir: join(dir, 'data') });
    try {
      assert.equal(store.kind, 'sqlite');
      assert.ok(existsSync(join(dir, 'data', 'floodgate.db')));
    } finally {
      await store.close();
    }
  });

  it('a postgres:// or postgresql:// URL opens PostgreSQL in the given schema', async () => {
    for (const url of [PG_URL, PG_URL.replace(/^postgres:/, 'postgresql:')]) {
      const store = await openStore({ databaseUrl: url, dataDir: dir, poolSize: 2, queueTimeoutMs: 2000, schema });
      try {
        assert.equal(store.kind, 'postgres');
        await store.ping();
      } finally {
        await store.close();
      }
    }
    const [row] = await admin<{ n: number }[]>`SELECT count(*)::int AS n FROM information_schema.tables WHERE table_schema = ${schema} AND table_name = 'content'`;
    assert.equal(row?.n, 1);
  });

  it('any other URL is a clear error that does not echo the URL (it may hold a password)', async () => {
    await assert.rejects(openStore({ databaseUrl: 'mysql://u:secret@h/db', dataDir: dir }), (err: unknown) => {
      assert.ok(err instanceof Error);
      assert.match(err.message, /postgres:\/\/ or postgresql:\/\//);
      assert.doesNotMatch(err.message, /secret/);
      return true;
    });
  });

  it('rejects a pool size or deadline that cannot work', async () => {
    await assert.rejects(openStore({ databaseUrl: PG_URL, dataDir: dir, poolSize: 0 }), RangeError);
    await assert.rejects(openStore({ databaseUrl: PG_URL, dataDir: dir, queueTimeoutMs: 0 }), RangeError);
  });

  it('an unreachable PostgreSQL rejects with StoreUnavailableError', async () => {
    await assert.rejects(openStore({ databaseUrl: 'postgres://postgres@127.0.0.1:1/test', dataDir: dir }), StoreUnavailableError);
  });
});
