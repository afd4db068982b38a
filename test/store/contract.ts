// The contract every Store implementation keeps: run by sqlite.test.ts and postgres.test.ts against real databases.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { ContentWrite } from '../../src/content/record.ts';
import type { Store } from '../../src/store/store.ts';

/** Runs the contract against a fresh store from `make` (one per suite; each test uses its own collection). */
export function storeContract(name: string, make: () => Promise<Store>): void {
  describe(`Store contract: ${name}`, () => {
    let store: Store;
    let n = 0;
    /** A collection no other test touches, so tests stay independent within one store. */
    const fresh = (): string => `c${++n}-${randomBytes(4).toString('hex')}`;
    const w = (collection: string, key: string, body: string | Buffer, contentType = 'text/plain'): ContentWrite => ({
      collection, key, body: typeof body === 'string' ? Buffer.from(body) : body, contentType,
    });

    before(async () => {
      store = await make();
    });
    after(async () => {
      await store.close();
    });

    it('has a kind and answers ping', async () => {
      assert.equal(typeof store.kind, 'string');
      assert.ok(store.kind.length > 0);
      await store.ping();
    });

    it('round-trips arbitrary bytes, including non-UTF-8 and empty bodies, with their content type', async () => {
      const c = fresh();
      const bytes = Buffer.concat([Buffer.from([0x00, 0xff, 0xfe, 0xc3, 0x28, 0x80]), randomBytes(4096)]);
      const put = await store.put(w(c, 'bin', bytes, 'application/octet-stream'));
      assert.deepEqual(put.body, bytes);
      const got = await store.get(c, 'bin');
      assert.ok(got);
      assert.ok(Buffer.isBuffer(got.body), 'body is a Buffer');
      assert.deepEqual(got.body, bytes);
      assert.equal(got.contentType, 'application/octet-stream');
      assert.equal(got.collection, c);
      assert.equal(got.key, 'bin');
      assert.equal(got.version, put.version);
      assert.equal(typeof got.updatedAt, 'number');
      assert.ok(Math.abs(got.updatedAt - Date.now()) < 60_000, 'updatedAt is milliseconds since the epoch');
      await store.put(w(c, 'empty', Buffer.alloc(0), 'application/json; charset=utf-8'));
      const empty = await store.get(c, 'empty');
      assert.equal(empty?.body.length, 0);
      assert.equal(empty?.contentType, 'application/json; charset=utf-8');
    });

    it('keeps keys distinct per collection and answers undefined for an absent key', async () => {
      const [a, b] = [fresh(), fresh()];
      await store.put(w(a, 'k', 'in a'));
      assert.equal(await store.get(b, 'k'), undefined);
      assert.equal(await store.get(a, 'missing'), undefined);
      assert.equal((await store.get(a, 'k'))?.body.toString(), 'in a');
    });

    it('hands out strictly increasing versions, and an overwrite replaces body, type and version', async () => {
      const c = fresh();
      const first = await store.put(w(c, 'k', 'one', 'text/plain'));
      const other = await store.put(w(c, 'other', 'x'));
      const second = await store.put(w(c, 'k', 'two', 'text/html'));
      assert.ok(other.version > first.version);
      assert.ok(second.version > other.version);
      const got = await store.get(c, 'k');
      assert.equal(got?.body.toString(), 'two');
      assert.equal(got?.contentType, 'text/html');
      assert.equal(got?.version, second.version);
      assert.equal(await store.count(c), 2);
    });

    it('delete returns a change with a newer version; get and count then miss it; a second delete is undefined', async () => {
      const c = fresh();
      const put = await store.put(w(c, 'k', 'v'));
      const change = await store.delete(c, 'k');
      assert.ok(change);
      assert.deepEqual({ ...change, version: 0 }, { collection: c, key: 'k', version: 0, deleted: true });
      assert.ok(change.version > put.version);
      assert.equal(await store.get(c, 'k'), undefined);
      assert.equal(await store.count(c), 0);
      assert.equal(await store.delete(c, 'k'), undefined);
      assert.equal(await store.delete(c, 'never'), undefined);
      const again = await store.put(w(c, 'k', 'back'));
      assert.ok(again.version > change.version, 'a re-put after a delete is newer than the deletion');
      assert.equal((await store.get(c, 'k'))?.body.toString(), 'back');
    });

    it('putMany writes a batch in order with consecutive-or-increasing versions', async () => {
      const c = fresh();
      const writes = Array.from({ length: 500 }, (_, i) => w(c, `k${i}`, `body ${i}`));
      const changes = await store.putMany(writes);
      assert.equal(changes.length, 500);
      changes.forEach((ch, i) => {
        assert.equal(ch.key, `k${i}`);
        assert.equal(ch.collection, c);
        assert.equal(ch.deleted, false);
        if (i > 0) assert.ok(ch.version > (changes[i - 1]?.version ?? Infinity));
      });
      assert.equal(await store.count(c), 500);
      assert.equal((await store.get(c, 'k499'))?.body.toString(), 'body 499');
      assert.equal((await store.get(c, 'k7'))?.version, changes[7]?.version);
      assert.deepEqual(await store.putMany([]), []);
    });

    it('putMany is all or nothing: a failing record rolls back the whole batch', async () => {
      const c = fresh();
      await store.put(w(c, 'k1', 'before'));
      const max = await store.maxVersion();
      const bad = { collection: c, key: null, body: Buffer.from('x'), contentType: 'text/plain' } as unknown as ContentWrite;
      await assert.rejects(store.putMany([w(c, 'k1', 'after'), w(c, 'k2', 'new'), bad, w(c, 'k3', 'new')]));
      assert.equal((await store.get(c, 'k1'))?.body.toString(), 'before');
      assert.equal(await store.get(c, 'k2'), undefined);
      assert.equal(await store.count(c), 1);
      assert.deepEqual((await store.changesSince(max, 100)).filter((ch) => ch.collection === c), []);
      // The store is still usable after the rollback.
      assert.equal((await store.putMany([w(c, 'k2', 'ok')])).length, 1);
      assert.equal(await store.count(c), 2);
    });

    it('count counts one collection or all', async () => {
      const [a, b] = [fresh(), fresh()];
      const before = await store.count();
      await store.putMany([w(a, '1', 'x'), w(a, '2', 'x'), w(b, '1', 'x')]);
      assert.equal(await store.count(a), 2);
      assert.equal(await store.count(b), 1);
      assert.equal(await store.count(fresh()), 0);
      assert.equal(await store.count(), before + 3);
    });

    it('hasAny says whether a collection holds a record, and turns false once its last record is deleted', async () => {
      const [a, b] = [fresh(), fresh()];
      await store.put(w(a, '1', 'x'));
      assert.deepEqual([await store.hasAny(a), await store.hasAny(b)], [true, false]);
      await store.delete(a, '1');
      assert.equal(await store.hasAny(a), false, 'a tombstone is not a record');
    });

    it('recentKeys lists the keys of the records written last, newest first, without deleted ones', async () => {
      const c = fresh();
      await store.putMany([w(c, 'old', 'x'), w(c, 'mid', 'x'), w(c, 'gone', 'x')]);
      await store.put(w(c, 'new', 'x'));
      await store.delete(c, 'gone');
      await store.put(w(c, 'old', 'rewritten')); // a rewrite makes it the newest
      const keys = (await store.recentKeys(3)).map((r) => `${r.collection}/${r.key}`);
      assert.deepEqual(keys, [`${c}/old`, `${c}/new`, `${c}/mid`]);
      assert.equal((await store.recentKeys(1000)).filter((r) => r.collection === c).length, 3);
    });

    it('changesSince reports puts and deletes oldest first, honours the limit, and maxVersion is the newest', async () => {
      const c = fresh();
      const since = await store.maxVersion();
      const a = await store.put(w(c, 'a', '1'));
      const b = await store.put(w(c, 'b', '1'));
      const a2 = await store.put(w(c, 'a', '2'));
      const del = await store.delete(c, 'b');
      assert.ok(del);
      assert.ok(a.version > since);
      assert.equal(await store.maxVersion(), del.version);
      const mine = (await store.changesSince(since, 1000)).filter((ch) => ch.collection === c);
      // Only the latest state of each key is kept: a's first write is superseded by a2.
      assert.deepEqual(mine, [
        { collection: c, key: 'a', version: a2.version, deleted: false },
        { collection: c, key: 'b', version: del.version, deleted: true },
      ]);
      assert.ok(b.version < a2.version);
      const all = await store.changesSince(since, 1000);
      for (let i = 1; i < all.length; i++) assert.ok((all[i]?.version ?? 0) > (all[i - 1]?.version ?? 0), 'oldest first');
      assert.equal((await store.changesSince(since, 1)).length, 1);
      assert.deepEqual(await store.changesSince(del.version, 10), []);
    });

    it('getMany reads many keys of one collection in one call: present ones only, each once, with their fields', async () => {
      const [c, other] = [fresh(), fresh()];
      const bytes = Buffer.from([0x00, 0xff, 0xc3, 0x28]);
      const puts = [await store.put(w(c, 'a', 'alpha')), await store.put(w(c, 'b', bytes, 'application/octet-stream')), await store.put(w(c, 'ü/ß?', 'unicode'))];
      await store.put(w(other, 'z', 'elsewhere'));
      const deleted = await store.put(w(c, 'gone', 'x'));
      await store.delete(c, deleted.key);
      const got = await store.getMany(c, ['b', 'missing', 'a', 'ü/ß?', 'a', 'z', 'gone', "it's"]);
      const byKey = new Map(got.map((r) => [r.key, r]));
      assert.equal(got.length, 3, 'present keys only, a repeated key once');
      assert.deepEqual([...byKey.keys()].sort(), ['a', 'b', 'ü/ß?']);
      for (const put of puts) {
        const r = byKey.get(put.key);
        assert.ok(r, put.key);
        assert.equal(r.collection, c);
        assert.ok(Buffer.isBuffer(r.body));
        assert.deepEqual(r.body, put.body);
        assert.equal(r.contentType, put.contentType);
        assert.equal(r.version, put.version);
        assert.equal(typeof r.updatedAt, 'number');
        assert.ok(Math.abs(r.updatedAt - Date.now()) < 60_000);
      }
      assert.deepEqual(await store.getMany(c, []), []);
      assert.deepEqual(await store.getMany(fresh(), ['a']), []);
      // A batch as large as the warm-up sends.
      const many = Array.from({ length: 2000 }, (_, i) => w(c, `k${i}`, `v${i}`));
      await store.putMany(many);
      const asked = many.map((m) => m.key).filter((_, i) => i % 3 !== 0);
      const found = await store.getMany(c, asked);
      assert.equal(found.length, asked.length);
      assert.ok(found.every((r) => r.body.toString() === `v${r.key.slice(1)}`));
    });

    it('scan pages through one collection in key order: every record once, with its fields, nothing of other collections', async () => {
      const [c, other] = [fresh(), fresh()];
      // Zero-padded, one case: the same order in any collation. Written out of order, in two batches.
      const keys = Array.from({ length: 95 }, (_, i) => `k${String(i).padStart(3, '0')}`);
      const shuffled = [...keys].sort((a, b) => (a.charCodeAt(3) * 7919 + a.charCodeAt(2)) % 97 - (b.charCodeAt(3) * 7919 + b.charCodeAt(2)) % 97);
      await store.putMany(shuffled.slice(0, 50).map((k) => w(c, k, `body ${k}`)));
      await store.putMany(shuffled.slice(50).map((k) => w(c, k, `body ${k}`, 'application/json')));
      await store.putMany([w(other, 'k000', 'not mine'), w(other, 'a', 'not mine')]);
      await store.delete(c, 'k010');
      const expected = keys.filter((k) => k !== 'k010');
      const seen: string[] = [];
      let after: string | undefined;
      let pages = 0;
      for (;;) {
        const page = await store.scan(c, after, 10);
        pages++;
        assert.ok(page.length <= 10, 'at most limit records a page');
        for (const r of page) {
          assert.equal(r.collection, c);
          assert.ok(Buffer.isBuffer(r.body));
          assert.equal(r.body.toString(), `body ${r.key}`);
          const stored = await store.get(c, r.key);
          assert.deepEqual({ ...r, body: r.body.toString() }, { ...stored, body: stored?.body.toString() });
          seen.push(r.key);
        }
        if (page.length < 10) break;
        after = page.at(-1)?.key;
      }
      assert.deepEqual(seen, expected, 'every record once, in key order, the deleted one left out');
      assert.equal(pages, 10);
      assert.deepEqual(await store.scan(c, 'k094', 10), [], 'nothing after the last key');
      assert.deepEqual((await store.scan(c, 'k0505', 3)).map((r) => r.key), ['k051', 'k052', 'k053'], 'afterKey need not exist');
      assert.deepEqual(await store.scan(fresh(), undefined, 10), [], 'an empty collection');
      assert.deepEqual(await store.scan(c, undefined, 0), [], 'limit 0');
    });

    it('scan hands out every byte of binary and empty bodies, unicode keys and large versions exactly', async () => {
      const c = fresh();
      const writes = Array.from({ length: 40 }, (_, i) => w(c, `${String(i).padStart(2, '0')}-ü-${i % 3 === 0 ? '😀' : 'x'}`, i === 7 ? Buffer.alloc(0) : Buffer.concat([Buffer.from([0, 0xff, 0x80, 0xc3]), randomBytes(i * 13)]), 'application/octet-stream'));
      await store.putMany(writes);
      const seen = new Map<string, Buffer>();
      for (let after: string | undefined, page; (page = await store.scan(c, after, 7)).length > 0; after = page.at(-1)?.key) {
        for (const r of page) {
          const stored = await store.get(c, r.key);
          assert.ok(stored, r.key);
          assert.deepEqual([r.version, r.updatedAt, r.contentType], [stored.version, stored.updatedAt, stored.contentType]);
          assert.ok(r.body.equals(stored.body), `the body of ${r.key}`);
          seen.set(r.key, Buffer.from(r.body));
        }
        if (page.length < 7) break;
      }
      assert.equal(seen.size, writes.length);
      for (const x of writes) assert.ok(seen.get(x.key)?.equals(x.body), x.key);
    });

    it('stores keys and collections with unicode and punctuation exactly', async () => {
      const c = fresh();
      const keys = ['ü/ß?&=#', "it's", 'a b', 'x'.repeat(256), '%', '_'];
      await store.putMany(keys.map((k) => w(c, k, k)));
      for (const k of keys) assert.equal((await store.get(c, k))?.body.toString(), k);
      assert.equal(await store.get(c, 'a_b'), undefined);
    });
  });
}

/** Closing is part of the contract: after close, calls reject instead of hanging. */
export function storeCloseContract(name: string, make: () => Promise<Store>): void {
  describe(`Store contract: ${name} close`, () => {
    it('close resolves, is idempotent, and later calls reject', async () => {
      const store = await make();
      await store.ping();
      await store.close();
      await store.close();
      await assert.rejects(store.get('default', 'k'));
      await assert.rejects(store.ping());
    });
  });
}
