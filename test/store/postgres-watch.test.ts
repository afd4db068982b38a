// The PostgreSQL change feed: plain SQL writes by anyone arrive; changes made while the listener was cut off
// arrive after it reconnects (replayed from changesSince); stop() stops.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Change } from '../../src/content/record.ts';
import { openPostgresStore } from '../../src/store/postgres.ts';
import type { Store } from '../../src/store/store.ts';
import { adminSql, dropSchema, eventually, PG_URL, uniqueName } from './pg-helpers.ts';

const admin = adminSql();
const schema = uniqueName();
const app = uniqueName('fg_app');
const s = `"${schema}"`;
let store: Store;
let stop: (() => Promise<void>) | undefined;
const seen: Change[] = [];
const has = (pred: (c: Change) => boolean): boolean => seen.some(pred);

async function listenerPid(): Promise<number | undefined> {
  const [row] = await admin<{ pid: number }[]>`
    SELECT pid FROM pg_stat_activity WHERE application_name = ${`${app}-listen`} AND query ILIKE 'LISTEN%'`;
  return row?.pid;
}

before(async () => {
  store = await openPostgresStore({ url: PG_URL, poolSize: 3, queueTimeoutMs: 5000, schema, applicationName: app });
  assert.ok(store.watch, 'the PostgreSQL store has a change feed');
  stop = (await store.watch((change) => seen.push(change))).stop;
});
after(async () => {
  try {
    await stop?.();
    await store.close();
    await dropSchema(admin, schema);
  } finally {
    await admin.end();
  }
});

describe('PostgreSQL change feed', () => {
  it('a plain SQL UPDATE by another application arrives within 1 s with a higher version', async () => {
    const put = await store.put({ collection: 'w', key: 'a', body: Buffer.from('1'), contentType: 'text/plain' });
    await admin.unsafe(`UPDATE ${s}.content SET body = convert_to('2', 'UTF8') WHERE collection = 'w' AND key = 'a'`);
    const arrived = await eventually(() => has((c) => c.key === 'a' && c.version > put.version && !c.deleted), 1000);
    assert.ok(arrived, `update seen; got ${JSON.stringify(seen)}`);
  });

  it('changes committed while the listener is cut off arrive after it reconnects', async () => {
    await store.putMany(['b', 'c'].map((key) => ({ collection: 'w', key, body: Buffer.from('x'), contentType: 'text/plain' })));
    assert.ok(await eventually(() => has((c) => c.key === 'c'), 2000));
    const pid = await listenerPid();
    assert.ok(pid, 'the listener is visible in pg_stat_activity');
    const before = await store.maxVersion();
    // One implicit transaction: the listener's backend is killed before these changes commit.
    await admin.unsafe(`
      SELECT pg_terminate_backend(${pid});
      UPDATE ${s}.content SET body = convert_to('y', 'UTF8') WHERE collection = 'w' AND key = 'b';
      DELETE FROM ${s}.content WHERE collection = 'w' AND key = 'c';
      INSERT INTO ${s}.content (collection, key, body) VALUES ('w', 'd', convert_to('z', 'UTF8'));`);
    const arrived = await eventually(
      () => has((c) => c.key === 'b' && c.version > before && !c.deleted)
        && has((c) => c.key === 'c' && c.version > before && c.deleted)
        && has((c) => c.key === 'd' && c.version > before && !c.deleted),
      5000,
    );
    assert.ok(arrived, `changes made while away seen; got ${JSON.stringify(seen.filter((c) => c.version > before))}`);
    assert.ok(await eventually(async () => ((await listenerPid()) ?? pid) !== pid, 5000), 'a new listener connection');
    // And it still hears live changes.
    const live = await store.put({ collection: 'w', key: 'e', body: Buffer.from('x'), contentType: 'text/plain' });
    assert.ok(await eventually(() => has((c) => c.key === 'e' && c.version === live.version), 2000));
  });

  it('TRUNCATE by plain SQL arrives as a deletion of every key (caught up from the tombstones)', async () => {
    const before = await store.maxVersion();
    await admin.unsafe(`TRUNCATE ${s}.content`);
    const arrived = await eventually(
      () => ['a', 'b', 'd', 'e'].every((key) => has((c) => c.key === key && c.deleted && c.version > before)),
      3000,
    );
    assert.ok(arrived, `truncation seen; got ${JSON.stringify(seen.filter((c) => c.version > before))}`);
  });

  it('each change is delivered once, even when a reconnect replays overlapping versions', () => {
    const versions = seen.map((c) => c.version);
    assert.equal(new Set(versions).size, versions.length);
  });

  it('stop() closes the listener and nothing more is delivered', async () => {
    await stop?.();
    stop = undefined;
    assert.ok(await eventually(async () => (await listenerPid()) === undefined, 3000), 'listener connection closed');
    const count = seen.length;
    await store.put({ collection: 'w', key: 'after-stop', body: Buffer.from('x'), contentType: 'text/plain' });
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(seen.length, count);
  });
});
