// floodgate_store_pool_connections{state}: the PostgreSQL pool's size, the calls holding a connection and the
// calls waiting for one, read from a real pool whose only connection is held up (a TCP proxy keeps its bytes).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import client from 'prom-client';
import { registerServerGauges } from '../../src/http/server-metrics.ts';
import { openPostgresStore } from '../../src/store/postgres.ts';
import { startTcpProxy } from '../support/tcp-proxy.ts';
import { adminSql, dropSchema, PG_URL, uniqueName } from './pg-helpers.ts';

test('the store pool gauge says size, busy and waiting while calls queue for the one connection, and 0 once they are answered', async () => {
  const target = new URL(PG_URL);
  await using proxy = await startTcpProxy({ host: target.hostname, port: Number(target.port || 5432) });
  const schema = uniqueName('fg_ops_pool');
  const admin = adminSql();
  const store = await openPostgresStore({ url: Object.assign(new URL(PG_URL), { port: String(proxy.port) }).toString(), poolSize: 1, queueTimeoutMs: 20_000, schema });
  try {
    const registry = new client.Registry();
    registerServerGauges(registry, { connections: () => 0, limits: { maxHeapBytes: 1, maxRssBytes: 1 }, pool: () => store.pool?.() ?? { size: 0, busy: 0, waiting: 0 } });
    const gauge = async (): Promise<string[]> => (await registry.metrics()).split('\n').filter((l) => l.startsWith('floodgate_store_pool_connections{'));
    assert.deepEqual(await gauge(), [
      'floodgate_store_pool_connections{state="size"} 1',
      'floodgate_store_pool_connections{state="busy"} 0',
      'floodgate_store_pool_connections{state="waiting"} 0',
    ]);
    proxy.hold(); // the one pooled connection stays open, and nothing it sends is answered until restore()
    // The two point reads of one loop iteration are one statement (a batch); the count is another; a read of the
    // next iteration is a third.
    const calls = [store.get('c', 'a'), store.get('c', 'b'), store.count()];
    await new Promise((r) => setImmediate(r));
    calls.push(store.get('c', 'd'));
    assert.deepEqual(await gauge(), [
      'floodgate_store_pool_connections{state="size"} 1',
      'floodgate_store_pool_connections{state="busy"} 1',
      'floodgate_store_pool_connections{state="waiting"} 2',
    ]);
    proxy.restore();
    assert.deepEqual(await Promise.all(calls), [undefined, undefined, 0, undefined]);
    assert.deepEqual(await gauge(), [
      'floodgate_store_pool_connections{state="size"} 1',
      'floodgate_store_pool_connections{state="busy"} 0',
      'floodgate_store_pool_connections{state="waiting"} 0',
    ]);
  } finally {
    await store.close();
    await dropSchema(admin, schema);
    await admin.end();
  }
});
