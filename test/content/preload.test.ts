// preload() over a real SQLite store into a real memory tier: several collections in order, the byte budget
// (and what did not fit, counted), a write or an invalidation that lands between reading a page and filling it,
// a store that fails mid-way, and the checks of --preload.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { parseCollections } from '../../src/content/collections.ts';
import { checkPreload, parsePreloadList, preload } from '../../src/content/preload.ts';
import type { ContentRecord, ContentWrite } from '../../src/content/record.ts';
import { openSqliteStore } from '../../src/store/sqlite.ts';
import type { Store } from '../../src/store/store.ts';
import { MemoryTier } from '../../src/tiers/memory.ts';

const dir = mkdtempSync(join(tmpdir(), 'fg-preload-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;

const w = (collection: string, key: string, body: string): ContentWrite => ({ collection, key, body: Buffer.from(body), contentType: 'text/plain' });
const keyOf = (i: number): string => `k${String(i).padStart(4, '0')}`;

async function storeWith(counts: Record<string, number>): Promise<Store> {
  const store = await openSqliteStore({ file: join(dir, `s${++n}.db`) });
  for (const [collection, count] of Object.entries(counts)) await store.putMany(Array.from({ length: count }, (_, i) => w(collection, keyOf(i), `${collection} ${i}`)));
  return store;
}

function tier(maxBytes = 64 << 20): MemoryTier {
  return new MemoryTier({ maxBytes, ttlMs: () => 60_000, staleMs: 60_000, negativeTtlMs: 5000, load: async () => undefined });
}

describe('preload()', () => {
  it('streams each collection in pages, in order, every record an entry', async () => {
    const store = await storeWith({ a: 95, b: 30, other: 10 });
    const memory = tier();
    const r = await preload({ store, memory, collections: ['a', 'b'], page: 10 });
    assert.deepEqual(r.collections.map((c) => [c.collection, c.records, c.entries, c.skipped, c.notFit]), [['a', 95, 95, 0, 0], ['b', 30, 30, 0, 0]]);
    assert.deepEqual([r.records, r.entries, r.full, r.failed], [125, 125, false, undefined]);
    assert.equal(r.bytes, memory.size.bytes);
    for (let i = 0; i < 95; i++) assert.equal(memory.peekFresh('a', keyOf(i))?.record?.body.toString(), `a ${i}`);
    assert.equal(memory.peekFresh('other', keyOf(0)), undefined, 'only the collections asked for');
    await store.close();
  });

  it('stops at the budget: the rest of the collection and the next collections are counted as not fitting', async () => {
    const store = await storeWith({ a: 2000, b: 300 });
    const memory = tier(128 * 1024);
    const r = await preload({ store, memory, collections: ['a', 'b'], page: 100 });
    const [a, b] = r.collections;
    assert.equal(r.full, true);
    assert.ok(a && a.entries > 100 && a.entries < 2000, `some of a fit (${a?.entries})`);
    assert.equal(a.notFit, 2000 - a.entries);
    assert.equal(a.firstNotFit, keyOf(a.entries), 'in key order: the first that did not fit follows the last that did');
    assert.deepEqual([b?.entries, b?.notFit], [0, 300]);
    assert.equal(r.notFit, 2000 - a.entries + 300);
    assert.ok(memory.size.bytes <= 128 * 1024);
    assert.equal(memory.evictions, 0, 'nothing evicted');
    await store.close();
  });

  it('a write or an invalidation landing after a page was read and before it is filled wins', async () => {
    const store = await storeWith({ a: 100 });
    const memory = tier();
    const written: ContentRecord = { ...w('a', keyOf(15), 'written meanwhile'), version: 1_000_000, updatedAt: 1 };
    let pages = 0;
    const r = await preload({
      store, memory, collections: ['a'], page: 10, progressMs: 0,
      // After page 1 is filled, page 2 (keys 10-19) has already been read (SQLite answers at once): now a write
      // of key 15 through this process, and a change of key 17 announced by another one.
      onProgress: () => {
        if (++pages !== 1) return;
        memory.set(written);
        memory.apply({ collection: 'a', key: keyOf(17), version: 1_000_001, deleted: false });
      },
    });
    assert.equal(r.entries + r.skipped, 100);
    assert.equal(r.skipped, 2);
    assert.equal(memory.peekFresh('a', keyOf(15))?.record?.body.toString(), 'written meanwhile');
    assert.equal(memory.peekFresh('a', keyOf(17)), undefined, 'not the older copy: read on demand');
    assert.equal(memory.peekFresh('a', keyOf(16))?.record?.body.toString(), 'a 16');
    await store.close();
  });

  it('a store that fails mid-way ends it with what was loaded, saying how far it got', async () => {
    const store = await storeWith({ a: 100 });
    const memory = tier();
    let pages = 0;
    const r = await preload({ store, memory, collections: ['a', 'b'], page: 10, progressMs: 0, onProgress: () => void (++pages === 3 && store.close()) });
    // Closed once page 3 is in: page 4 had already been read (the next page is read before this one fills).
    assert.match(r.failed ?? '', /^reading a after 40 of its records: .*closed/);
    assert.equal(r.entries, 40);
    assert.equal(memory.peekFresh('a', keyOf(39))?.record?.body.toString(), 'a 39');
    assert.deepEqual(r.collections.map((c) => c.collection), ['a', 'b'], 'b is not read after the failure');
  });
});

describe('--preload checks', () => {
  it('parses a comma-separated list, each once; refuses a name that is not one', () => {
    assert.deepEqual(parsePreloadList(''), []);
    assert.deepEqual(parsePreloadList(' default, news ,default,'), ['default', 'news']);
    assert.throws(() => parsePreloadList('a b'), /--preload: "a b" is not a collection name/);
    assert.throws(() => parsePreloadList(' , '), /names no collection/);
  });

  it('a collection must exist and be a store collection; the memory tier must be on', async () => {
    const store = await storeWith({ news: 1 });
    const defs = parseCollections({ collections: { reports: { query: 'SELECT 1 WHERE ? = 1' }, empty: {} } }, 60_000);
    await checkPreload(['default', 'news', 'empty'], defs, store, 1 << 20); // defined (even empty), or in the store
    await assert.rejects(checkPreload(['reprots'], defs, store, 1 << 20), /no collection "reprots".* \(did you mean reports\?\)/);
    await assert.rejects(checkPreload(['reports'], defs, store, 1 << 20), /collection reports is a read-only SQL collection/);
    await assert.rejects(checkPreload(['news'], defs, store, 0), /the memory tier is off/);
    await store.close();
  });
});
