// The PostgreSQL store sends the point reads of one loop iteration together: one statement per collection (up to
// 256 keys each, `key = ANY($2)`), every caller answered with its own record, a missing key with undefined; a
// failure rejects each read of the statement, and nothing throws out of the batch.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { openPostgresStore } from '../../src/store/postgres.ts';
import type { Store } from '../../src/store/store.ts';
import { StoreTimeoutError, StoreUnavailableError } from '../../src/store/errors.ts';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.ts';
import { adminSql, dropSchema, PG_URL, uniqueName } from './pg-helpers.ts';

describe('PostgreSQL store: the point reads of one loop iteration are one statement', () => {
  const schema = uniqueName('fg_batch');
  const admin = adminSql();
  let proxy: TcpProxy;
  let store: Store;
  before(async () => {
    const target = new URL(PG_URL);
    proxy = await startTcpProxy({ host: target.hostname, port: Number(target.port || 5432) });
    store = await openPostgresStore({ url: Object.assign(new URL(PG_URL), { port: String(proxy.port) }).toString(), poolSize: 1, queueTimeoutMs: 5_000, schema });
    await store.putMany([
      ...Array.from({ length: 600 }, (_, i) => ({ collection: 'c', key: `k${i}`, body: Buffer.from(`body ${i}`), contentType: 'text/plain' })),
      { collection: 'd', key: 'k1', body: Buffer.from('other collection'), contentType: 'application/json' },
    ]);
  });
  after(async () => {
    await store.close();
    await proxy.close();
    await dropSchema(admin, schema);
    await admin.end();
  });

  it('answers every read of a batch with its own record, duplicates and missing keys included', { timeout: 30_000 }, async () => {
    const keys = [...Array.from({ length: 600 }, (_, i) => `k${599 - i}`), 'k7', 'k7', 'absent', 'k\u00e9'];
    const reads = keys.map((k) => store.get('c', k));
    const other = [store.get('d', 'k1'), store.get('d', 'k2')];
    const got = await Promise.all(reads);
    for (let i = 0; i < keys.length; i++) {
      const k = keys[i] as string;
      const n = Number(k.slice(1));
      if (Number.isInteger(n) && n < 600) {
        assert.equal(got[i]?.key, k);
        assert.equal(got[i]?.collection, 'c');
        assert.equal(got[i]?.body.toString(), `body ${n}`);
        assert.equal(got[i]?.contentType, 'text/plain');
        assert.ok((got[i]?.version ?? 0) > 0);
      } else assert.equal(got[i], undefined, k);
    }
    const [d1, d2] = await Promise.all(other);
    assert.deepEqual([d1?.collection, d1?.key, d1?.body.toString(), d1?.contentType, d2], ['d', 'k1', 'other collection', 'application/json', undefined]);
  });

  it('sends one statement per collection and 256 keys, and a read of the next iteration in a statement of its own', { timeout: 30_000 }, async () => {
    proxy.hold(); // the one pooled connection answers nothing until restore(): the statements sent stay counted
    const reads = [...Array.from({ length: 600 }, (_, i) => store.get('c', `k${i}`)), store.get('d', 'k1')];
    await new Promise((r) => setImmediate(r)); // the check phase: the batch is sent
    reads.push(store.get('c', 'k5'));
    await new Promise((r) => setImmediate(r));
    // 600 keys of c: 3 statements; 1 of d; then the lone read: 5 in all, one on the connection, 4 waiting.
    assert.deepEqual(store.pool?.(), { size: 1, busy: 1, waiting: 4 });
    proxy.restore();
    const got = await Promise.all(reads);
    assert.deepEqual(got.map((r) => r?.body.toString()), [...Array.from({ length: 600 }, (_, i) => `body ${i}`), 'other collection', 'body 5']);
    assert.deepEqual(store.pool?.(), { size: 1, busy: 0, waiting: 0 });
  });

  it('a batch that fails rejects each of its reads (no unhandled error), and the store answers again after', { timeout: 30_000 }, async () => {
    const target = new URL(PG_URL);
    await using cutter = await startTcpProxy({ host: target.hostname, port: Number(target.port || 5432) });
    const short = await openPostgresStore({ url: Object.assign(new URL(PG_URL), { port: String(cutter.port) }).toString(), poolSize: 1, queueTimeoutMs: 300, schema });
    try {
      cutter.cut(); // connections are dropped and new ones refused
      const results = await Promise.allSettled(Array.from({ length: 50 }, (_, i) => short.get('c', `k${i}`)));
      for (const r of results) {
        assert.equal(r.status, 'rejected');
        const reason = (r as PromiseRejectedResult).reason as Error;
        assert.ok(reason instanceof StoreUnavailableError || reason instanceof StoreTimeoutError, String(reason));
      }
      cutter.restore();
      for (let tries = 0; ; tries++) {
        try {
          assert.equal((await short.get('c', 'k3'))?.body.toString(), 'body 3');
          break;
        } catch (err) {
          if (tries > 50) throw err;
          await new Promise((r) => setTimeout(r, 100));
        }
      }
    } finally {
      await short.close();
    }
  });

  it('a store closed before its batch was sent rejects the batch: nothing is thrown', { timeout: 30_000 }, async () => {
    const other = await openPostgresStore({ url: PG_URL, poolSize: 1, queueTimeoutMs: 5_000, schema });
    const reads = [other.get('c', 'k1'), other.get('c', 'k2')];
    const closing = other.close();
    const results = await Promise.allSettled(reads);
    await closing;
    for (const r of results) assert.equal(r.status, 'rejected');
  });
});
