// The warm-up's own rules, on a real SQLite store: store reads batched (250 keys a query), version guards kept
// (a change heard of while a warmed copy was on its way wins over it), duplicates and missing keys counted, the
// batch a worker hands to the others over IPC round-trips byte for byte, and a store that fails part-way says
// how far the batch got.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { isIpcWarm, packWarm, unpackWarm } from '../../src/bus/ipc-warm.ts';
import { etagNumberOf } from '../../src/content/read-result.ts';
import { DEFAULT_COLLECTION, DEFAULT_CONTENT_TYPE, type ContentRecord } from '../../src/content/record.ts';
import { ContentService, type StoreOp } from '../../src/content/service.ts';
import { WarmError, WARM_QUERY_KEYS } from '../../src/content/warm.ts';
import { openSqliteStore } from '../../src/store/sqlite.ts';

async function service(cacheBytes = 1 << 24) {
  const store = await openSqliteStore({ file: ':memory:' });
  const calls: StoreOp[] = [];
  const svc = new ContentService({
    store,
    collections: new Map([[DEFAULT_COLLECTION, { name: DEFAULT_COLLECTION, ttlMs: 60_000, contentType: DEFAULT_CONTENT_TYPE, missing: 'not-found' as const }]]),
    cacheBytes,
    defaultTtlMs: 60_000,
    staleMs: 1000,
    negativeTtlMs: 1000,
    observer: { redis: () => undefined, store: (op) => void calls.push(op), backgroundError: () => undefined },
  });
  await svc.init();
  const write = (from: number, to: number) => store.putMany(Array.from({ length: to - from + 1 }, (_, i) => ({ collection: DEFAULT_COLLECTION, key: String(from + i), body: Buffer.from(`body ${from + i}`), contentType: DEFAULT_CONTENT_TYPE })));
  return { store, svc, calls, write, [Symbol.asyncDispose]: () => store.close() };
}

describe('warm-up (content/warm.ts)', () => {
  it('reads 250 keys a store query, fills the memory tier, counts found, missing and bytes', async () => {
    await using t = await service();
    await t.write(1, 1000);
    const keys = Array.from({ length: 1100 }, (_, i) => String(i + 1)); // 100 absent
    const out = await t.svc.warmer.warm(DEFAULT_COLLECTION, keys);
    assert.equal(t.calls.filter((c) => c === 'warm').length, Math.ceil(1100 / WARM_QUERY_KEYS));
    assert.deepEqual([out.requested, out.found, out.missing, out.kept, out.newer], [1100, 1000, 100, 1000, 0]);
    assert.equal(out.bytes, keys.slice(0, 1000).reduce((n, k) => n + `body ${k}`.length, 0));
    assert.equal(out.redis, 'off');
    assert.ok(out.accounted >= out.bytes, 'the tier accounts at least the bodies');
    assert.equal(t.svc.fresh(DEFAULT_COLLECTION, '777')?.record?.body.toString(), 'body 777');
    assert.equal(t.svc.fresh(DEFAULT_COLLECTION, '1050'), undefined, 'a missing key is not remembered');
    assert.equal(t.calls.filter((c) => c === 'get').length, 0, 'never one key at a time');
  });

  it('a change heard of while the warmed copy was on its way wins: the older copy is not stored', async () => {
    await using t = await service();
    const [old] = await t.write(1, 2);
    assert.ok(old);
    // Another instance committed a newer version of key 1, and its invalidation reached this worker first.
    t.svc.applyChange({ collection: DEFAULT_COLLECTION, key: '1', version: old.version + 100, deleted: false });
    const out = await t.svc.warmer.warm(DEFAULT_COLLECTION, ['1', '2']);
    assert.deepEqual([out.found, out.kept, out.newer], [2, 1, 1]);
    assert.equal(t.svc.fresh(DEFAULT_COLLECTION, '1'), undefined, 'key 1 loads the newer version on its first read');
    assert.equal(t.svc.fresh(DEFAULT_COLLECTION, '2')?.record?.body.toString(), 'body 2');
    // A deletion heard of likewise.
    t.svc.applyStoreChange({ collection: DEFAULT_COLLECTION, key: '2', version: old.version + 200, deleted: true });
    const again = await t.svc.warmer.warm(DEFAULT_COLLECTION, ['2']);
    assert.deepEqual([again.kept, again.newer], [0, 1]);
    // The guard remembers versions, so a change older than the store's copy does not hold a key back.
    t.svc.applyChange({ collection: DEFAULT_COLLECTION, key: '3', version: 1, deleted: false });
    await t.write(3, 3);
    assert.equal((await t.svc.warmer.warm(DEFAULT_COLLECTION, ['3'])).kept, 1);
  });

  it('reports what the memory tier kept when the batch is larger than the tier', async () => {
    await using t = await service(64 * 1024);
    await t.write(1, 2000);
    const out = await t.svc.warmer.warm(DEFAULT_COLLECTION, Array.from({ length: 2000 }, (_, i) => String(i + 1)));
    assert.equal(out.found, 2000);
    assert.ok(out.kept > 0 && out.kept < 2000, `kept ${out.kept}`);
    assert.ok(out.accounted <= 64 * 1024);
    assert.equal(t.svc.warmer.memory()?.maxBytes, 64 * 1024);
    assert.ok((t.svc.warmer.memory()?.evictions ?? 0) > 0);
  });

  it('a store that fails part-way: WarmError names the failed part and what was warmed before it', async () => {
    await using t = await service();
    await t.write(1, 600);
    const keys = Array.from({ length: 600 }, (_, i) => String(i + 1));
    // The store closes while the batch runs: its next query fails, as with a store that went away.
    const warming = t.svc.warmer.warm(DEFAULT_COLLECTION, keys);
    setImmediate(() => void t.store.close());
    const err = await warming.then(() => undefined, (e: unknown) => e);
    assert.ok(err instanceof WarmError, String(err));
    assert.equal(err.done.found, WARM_QUERY_KEYS, 'the first part was warmed');
    assert.deepEqual(err.failed, { first: String(WARM_QUERY_KEYS + 1), last: String(2 * WARM_QUERY_KEYS), keys: WARM_QUERY_KEYS });
    assert.match(err.message, /the store failed while reading keys 251…500: .*closed/);
    assert.equal((err.cause as { code?: string }).code, 'FG_STORE_UNAVAILABLE');
    assert.equal(t.svc.fresh(DEFAULT_COLLECTION, '1')?.record?.body.toString(), 'body 1', 'what was warmed stays');
  });

  it('a batch handed to the other workers round-trips byte for byte through its IPC form (JSON)', () => {
    const big = randomBytes(100 * 1024);
    const records: ContentRecord[] = [
      { collection: 'c', key: 'ü/ß?', body: Buffer.from([0, 0xff, 0xc3, 0x28]), contentType: 'application/octet-stream', version: 7, updatedAt: 1_700_000_000_123 },
      { collection: 'c', key: 'empty', body: Buffer.alloc(0), contentType: DEFAULT_CONTENT_TYPE, version: 8, updatedAt: 1 },
      { collection: 'c', key: 'big', body: big, contentType: 'application/octet-stream', version: 2 ** 40, updatedAt: 2 },
    ];
    const wire = JSON.parse(JSON.stringify(packWarm(3, 'c', records))) as unknown;
    assert.ok(isIpcWarm(wire));
    assert.equal(wire.typeNames.length, 2, 'each content type once');
    const back = unpackWarm(wire);
    assert.deepEqual(back.map((r) => ({ ...r, body: Buffer.from(r.body) })), records.map((r) => ({ ...r, etag: etagNumberOf(r.body) })), 'with each ETag number, so no other worker hashes the body again');
    assert.equal(back[2]?.body.buffer.byteLength, big.length, 'a large body has a Buffer of its own, not a view of the whole batch');
    assert.throws(() => unpackWarm({ ...wire, lengths: [4, 0, big.length + 1] }), /does not add up/);
    assert.throws(() => unpackWarm({ ...wire, versions: [1] }), /columns differ/);
  });
});
