// The compact store against a plain Map model: random inserts, replacements and removals over colliding,
// two-byte, empty-bodied and large keys/bodies (seeded, so a failure replays), then every key checked both ways.
// And the hazard the slabs bring: a body handed out stays intact after its chunk is reused.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CompactStore, ENTRY_OVERHEAD } from '../../src/tiers/compact.ts';
import { chunkSizeOf } from '../../src/tiers/slab.ts';

function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s ^ (s >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0) / 2 ** 32);
}

const fields = (body: Buffer | undefined, version: number) => ({ version, freshUntil: version * 10, updatedAt: version, etag: version * 7, contentType: `type/${version % 3}`, body });

describe('compact store', () => {
  it('agrees with a Map over 20,000 random operations', () => {
    const rnd = prng(42);
    const store = new CompactStore();
    const model = new Map<string, { collection: string; key: string; body: Buffer | undefined; version: number }>();
    const keys = ['', 'a', 'ключ', '😀', 'x'.repeat(300), 'k'.repeat(70_000)];
    const keyOf = (): [string, string] => {
      const c = rnd() < 0.8 ? 'default' : 'other';
      const r = rnd();
      return [c, r < 0.05 ? (keys[Math.floor(rnd() * keys.length)] as string) : String(Math.floor(rnd() * 3000))];
    };
    for (let op = 1; op <= 20_000; op++) {
      const [c, k] = keyOf();
      const id = `${c}\0${k}`;
      if (rnd() < 0.7) {
        const r = rnd();
        const body = r < 0.1 ? undefined : Buffer.alloc(r < 0.12 ? 300_000 : Math.floor(rnd() * 2000), op % 251);
        const s = store.insert(c, k, fields(body, op));
        if (k.length > 0xffff) {
          assert.equal(s, -1, 'a key over 64 KiB is not stored');
          model.delete(id);
        } else model.set(id, { collection: c, key: k, body, version: op });
      } else {
        const s = store.find(c, k);
        assert.equal(s >= 0, model.has(id), `find ${id}`);
        if (s >= 0) store.remove(s);
        model.delete(id);
      }
    }
    assert.equal(store.count, model.size);
    let bytes = 0;
    for (const m of model.values()) {
      const s = store.find(m.collection, m.key);
      assert.ok(s >= 0, `${m.collection}/${m.key.slice(0, 10)} is found`);
      assert.equal(store.key(s), m.key);
      assert.equal(store.collection(s), m.collection);
      assert.equal(store.version(s), m.version);
      assert.equal(store.etag(s), m.version * 7);
      assert.equal(store.negative(s), m.body === undefined);
      if (m.body !== undefined) {
        assert.ok(store.body(s).equals(m.body));
        assert.equal(store.contentType(s), `type/${m.version % 3}`);
      }
      bytes += store.sizeOf(s);
    }
    assert.equal(store.bytes, bytes);
    for (let i = 3000; i < 3100; i++) assert.equal(store.find('default', String(i)), -1);
  });

  it('the index grows without a stop: rebuilt beside the old one while entries come and go, every lookup agrees with a Map', () => {
    // Growth to 60,000 entries crosses 7/16 of the index (where its rebuild starts) eight times; removals and
    // re-inserts meanwhile free and reuse slots on both sides of the walk. Every operation checks its key.
    const rnd = prng(7);
    const store = new CompactStore();
    const model = new Map<string, number>();
    const body = Buffer.from('b');
    for (let op = 1; op <= 150_000; op++) {
      const k = String(Math.floor(rnd() * (op < 100_000 ? 60_000 : 80_000)));
      const s = store.find('default', k);
      assert.equal(s >= 0, model.has(k), `op ${op}: find ${k}`);
      if (s >= 0) assert.equal(store.version(s), model.get(k), `op ${op}: version of ${k}`);
      if (rnd() < 0.8) {
        store.insert('default', k, fields(body, op), s);
        model.set(k, op);
      } else if (s >= 0) {
        store.remove(s);
        model.delete(k);
      }
      if (op % 10_000 === 0) assert.equal(store.indexCells, store.count, `op ${op}: one index cell an entry`);
    }
    assert.equal(store.count, model.size);
    assert.equal(store.indexCells, store.count, 'one index cell an entry');
    for (const [k, v] of model) assert.equal(store.version(store.find('default', k)), v, k);
    store.reserve(100_000); // a bulk fill's reserve replaces a rebuild under way with one at the final size
    for (const [k, v] of model) assert.equal(store.version(store.find('default', k)), v, k);
    for (let i = 80_000; i < 80_100; i++) assert.equal(store.find('default', String(i)), -1);
  });

  it('a body handed out is a copy: reusing its chunk does not change it', () => {
    const store = new CompactStore();
    const s = store.insert('default', '1', fields(Buffer.from('first body'), 1));
    const out = store.body(s);
    store.remove(s);
    const again = store.insert('default', '2', fields(Buffer.from('other body'), 2));
    assert.equal(store.body(again).toString(), 'other body');
    assert.equal(out.toString(), 'first body');
  });

  it('accounts the chunk and the per-entry overhead; keeps LRU order', () => {
    const store = new CompactStore();
    const a = store.insert('default', 'a', fields(Buffer.alloc(140), 1));
    const b = store.insert('default', 'b', fields(Buffer.alloc(140), 2));
    assert.equal(store.bytes, 2 * (chunkSizeOf(141) + ENTRY_OVERHEAD));
    assert.equal(store.oldest, a);
    store.touch(a);
    assert.equal(store.oldest, b);
  });
});
