// How far behind the change feed is (ChangeFeed.behind, floodgate_change_feed_lag_seconds and
// floodgate_change_feed_versions_behind), against the real PostgreSQL: 0 and 0 while caught up; while the
// listener's connection is cut, what is committed meanwhile shows as versions behind and as seconds since the
// oldest of it was written, in PostgreSQL's clock; after the reconnect's replay, 0 and 0 again.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import client from 'prom-client';
import type { Change } from '../../src/content/record.ts';
import { registerChangeFeedGauges } from '../../src/http/server-metrics.ts';
import { openPostgresStore } from '../../src/store/postgres.ts';
import type { ChangeFeed, Store } from '../../src/store/store.ts';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.ts';
import { adminSql, dropSchema, eventually, PG_URL, uniqueName } from './pg-helpers.ts';

const admin = adminSql();
const schema = uniqueName('fg_ops_lag');
const s = `"${schema}"`;
let proxy: TcpProxy;
let store: Store;
let feed: ChangeFeed;
const seen: Change[] = [];

before(async () => {
  const target = new URL(PG_URL);
  proxy = await startTcpProxy({ host: target.hostname, port: Number(target.port || 5432) });
  const listenUrl = Object.assign(new URL(PG_URL), { port: String(proxy.port) }).toString();
  store = await openPostgresStore({ url: PG_URL, listenUrl, poolSize: 2, queueTimeoutMs: 5000, schema });
  assert.ok(store.watch);
  feed = await store.watch((c) => seen.push(c));
});
after(async () => {
  try {
    await feed.stop();
    await store.close();
    await proxy.close();
    await dropSchema(admin, schema);
  } finally {
    await admin.end();
  }
});

const caughtUp = async (): Promise<boolean> => {
  const lag = await feed.behind();
  return lag.versions === 0 && lag.seconds === 0;
};

describe('change feed lag', () => {
  it('is 0 versions and 0 seconds while the feed keeps up', async () => {
    assert.deepEqual(await feed.behind(), { seconds: 0, versions: 0 });
    await admin.unsafe(`INSERT INTO ${s}.content (collection, key, body) VALUES ('c', 'a', 'x'), ('c', 'b', 'y')`);
    assert.ok(await eventually(() => seen.some((c) => c.key === 'b'), 5000));
    assert.ok(await eventually(caughtUp, 5000), `caught up: ${JSON.stringify(await feed.behind())}`);
  });

  it('grows while the listener is cut off, counted in the store\'s versions and clock, and is 0 again after the replay', async () => {
    proxy.cut(); // the listener's connection is reset, and so is every reconnection until restore()
    const max0 = await store.maxVersion();
    // A transaction that starts, writes, waits 200 ms in PostgreSQL and commits: its changes are at least 0.2 s
    // old (in PostgreSQL's clock) when anyone can see them. Then a deletion and one more write.
    await admin.begin(async (tx) => {
      await tx.unsafe(`INSERT INTO ${s}.content (collection, key, body) VALUES ('c', 'p', 'x'), ('c', 'q', 'x')`);
      await tx.unsafe('SELECT pg_sleep(0.2)');
    });
    await admin.unsafe(`DELETE FROM ${s}.content WHERE collection = 'c' AND key = 'a'`);
    await admin.unsafe(`INSERT INTO ${s}.content (collection, key, body) VALUES ('c', 'r', 'x')`);
    const max1 = await store.maxVersion();
    const lag = await feed.behind();
    assert.equal(lag.versions, max1 - max0, `every version committed while cut off is behind: ${JSON.stringify(lag)}`);
    assert.equal(lag.versions, 4, 'p, q, the deletion of a, r');
    assert.ok(lag.seconds >= 0.2, `the oldest change not applied is at least 0.2 s old: ${JSON.stringify(lag)}`);
    assert.ok(!seen.some((c) => c.key === 'r'), 'nothing arrived meanwhile');

    // The gauges read the same at scrape time.
    const registry = new client.Registry();
    registerChangeFeedGauges(registry, () => feed.behind());
    const text = await registry.metrics();
    assert.match(text, /^floodgate_change_feed_versions_behind 4$/m);
    const seconds = Number(/^floodgate_change_feed_lag_seconds (\S+)$/m.exec(text)?.[1]);
    assert.ok(seconds >= 0.2, text);

    proxy.restore();
    assert.ok(await eventually(() => seen.some((c) => c.key === 'r') && seen.some((c) => c.key === 'a' && c.deleted), 15_000), 'replayed after the reconnect');
    assert.ok(await eventually(caughtUp, 5000), `caught up again: ${JSON.stringify(await feed.behind())}`);
  });

  it('a scrape leaves the two series out while the store does not answer, instead of waiting for it', async () => {
    const registry = new client.Registry();
    registerChangeFeedGauges(registry, () => new Promise(() => undefined)); // never answers
    const text = await registry.metrics();
    assert.match(text, /^# TYPE floodgate_change_feed_lag_seconds gauge$/m);
    assert.doesNotMatch(text, /^floodgate_change_feed_lag_seconds /m);
    assert.doesNotMatch(text, /^floodgate_change_feed_versions_behind /m);
    const failing = new client.Registry();
    registerChangeFeedGauges(failing, () => Promise.reject(new Error('store down')));
    assert.doesNotMatch(await failing.metrics(), /^floodgate_change_feed_lag_seconds /m);
  });
});
