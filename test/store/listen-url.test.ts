// --listen-database-url: the change feed's LISTEN connection goes to its own URL (a direct one, when
// DATABASE_URL is a transaction-mode PgBouncer, which cannot hold a LISTEN), the pool to DATABASE_URL. Two TCP
// proxies in front of the one PostgreSQL tell the connections apart.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadConfig } from '../../src/config.ts';
import type { Change } from '../../src/content/record.ts';
import { openStore, storeOptions } from '../../src/store/open.ts';
import { startTcpProxy } from '../support/tcp-proxy.ts';
import { adminSql, dropSchema, eventually, PG_URL, uniqueName } from './pg-helpers.ts';

test('the change feed listens on FLOODGATE_LISTEN_DATABASE_URL, the pool uses DATABASE_URL, and changes arrive', async () => {
  const target = new URL(PG_URL);
  await using pool = await startTcpProxy({ host: target.hostname, port: Number(target.port || 5432) });
  await using listen = await startTcpProxy({ host: target.hostname, port: Number(target.port || 5432) });
  const via = (port: number): string => Object.assign(new URL(PG_URL), { port: String(port) }).toString();
  const schema = uniqueName();
  const { config } = loadConfig(['--db-schema', schema, '--db-pool', '2'], { DATABASE_URL: via(pool.port), FLOODGATE_LISTEN_DATABASE_URL: via(listen.port) });
  const admin = adminSql();
  const store = await openStore(storeOptions(config));
  try {
    assert.equal(listen.accepted, 0);
    const seen: Change[] = [];
    assert.ok(store.watch);
    const feed = await store.watch((c) => seen.push(c));
    assert.equal(listen.connections, 1, 'the listener connected through its own URL');
    const pooled = pool.accepted;
    await admin.unsafe(`INSERT INTO "${schema}".content (collection, key, body, content_type) VALUES ('news', 'k1', 'x', 'text/plain')`);
    assert.ok(await eventually(() => seen.some((c) => c.key === 'k1'), 5000), 'the change arrived through the listener');
    assert.equal(listen.accepted, 1, 'nothing else used the listen URL');
    assert.ok(pooled > 0, 'the pool connected through DATABASE_URL');
    await feed.stop();
  } finally {
    await store.close();
    await dropSchema(admin, schema);
    await admin.end();
  }
});
