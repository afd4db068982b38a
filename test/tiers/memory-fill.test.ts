// The memory tier's bulk fill (serve --preload), on an injected clock: filled entries are ordinary entries
// (fresh for the TTL, then stale, then gone; their ETag the one a load gives), the fill never evicts and stops
// at the byte bound, and whatever changed while it ran wins over the older copies it read. No sleeping.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { etagOf } from '../../src/content/read-result.ts';
import type { ContentRecord } from '../../src/content/record.ts';
import { MemoryTier, type Loader } from '../../src/tiers/memory.ts';

const rec = (key: string, body: string, version: number): ContentRecord => ({ collection: 'c', key, body: Buffer.from(body), contentType: 'text/plain', version, updatedAt: version * 10 });
const TTL = 10_000;
const STALE = 60_000;

function setup(opts: { maxBytes?: number; load?: Loader } = {}) {
  const clock = { t: 1_000_000 };
  const loads: string[] = [];
  const load: Loader = opts.load ?? (async (_c, k) => (loads.push(k), rec(k, `loaded ${k}`, 1000)));
  const tier = new MemoryTier({ maxBytes: opts.maxBytes ?? 1 << 20, ttlMs: () => TTL, staleMs: STALE, negativeTtlMs: 5_000, load, now: () => clock.t, random: () => 0.5 });
  return { tier, clock, loads };
}

describe('memory tier bulk fill', () => {
  it('filled entries are hits with their record and the ETag a load would give', async () => {
    const { tier, loads } = setup();
    tier.beginFill();
    const records = Array.from({ length: 100 }, (_, i) => rec(`k${i}`, `body ${i}`, i + 1));
    assert.deepEqual({ ...tier.fill(records, tier.fillMark()), bytes: 0 }, { stored: 100, skipped: 0, bytes: 0, full: false });
    tier.endFill();
    for (const r of records) {
      const hit = await tier.lookup('c', r.key);
      assert.equal(hit.outcome, 'hit');
      assert.equal(hit.entry.record?.body.toString(), r.body.toString());
      assert.deepEqual([hit.entry.record?.version, hit.entry.record?.updatedAt, hit.entry.record?.contentType], [r.version, r.updatedAt, 'text/plain']);
      assert.equal(hit.entry.etag, etagOf(r.body), 'the ETag, computed at the first answer');
      assert.equal(tier.peekFresh('c', r.key)?.etag, etagOf(r.body), 'and the same at the next');
    }
    // The same body loaded (not filled) has the same ETag.
    const loaded = await tier.lookup('c', 'other');
    assert.equal(loaded.entry.etag, etagOf(Buffer.from('loaded other')));
    assert.deepEqual(loads, ['other']);
    assert.equal(tier.size.entries, 101);
  });

  it('a filled entry is fresh for the TTL from the fill, then stale (refreshed by one load), then gone', async () => {
    const { tier, clock, loads } = setup();
    tier.beginFill();
    tier.fill([rec('a', 'v1', 1), rec('b', 'v1', 1)], tier.fillMark());
    tier.endFill();
    clock.t += TTL - 1;
    assert.equal(tier.peekFresh('c', 'a')?.record?.body.toString(), 'v1');
    clock.t += 1;
    assert.equal(tier.peekFresh('c', 'a'), undefined, 'no longer fresh at the TTL');
    const stale = await tier.lookup('c', 'a');
    assert.equal(stale.outcome, 'stale');
    assert.equal(stale.entry.record?.body.toString(), 'v1');
    await new Promise((r) => setImmediate(r));
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(loads, ['a'], 'one background refresh');
    assert.equal(tier.peekFresh('c', 'a')?.record?.body.toString(), 'loaded a');
    clock.t += STALE;
    assert.equal(tier.peekAny('c', 'b'), undefined, 'past its stale window: gone');
    assert.equal((await tier.lookup('c', 'b')).outcome, 'miss');
  });

  it('never evicts: it stops at the first record that does not fit, and what the tier held stays', async () => {
    const { tier } = setup({ maxBytes: 64 * 1024 });
    tier.set(rec('held', 'x'.repeat(100), 1));
    tier.beginFill();
    const records = Array.from({ length: 1000 }, (_, i) => rec(`k${String(i).padStart(4, '0')}`, 'y'.repeat(140), i + 2));
    const r = tier.fill(records, tier.fillMark());
    tier.endFill();
    assert.equal(r.full, true);
    assert.ok(r.stored > 100 && r.stored < 1000, `some fit (${r.stored})`);
    assert.equal(r.skipped, 0);
    assert.ok(tier.size.bytes <= 64 * 1024, `within the bound (${tier.size.bytes})`);
    assert.equal(tier.evictions, 0);
    assert.equal(tier.peekFresh('c', 'held')?.record?.body.toString(), 'x'.repeat(100), 'the entry held before stays');
    assert.ok(tier.peekFresh('c', (records[r.stored - 1] as ContentRecord).key), 'the last that fit is in');
    assert.equal(tier.peekFresh('c', (records[r.stored] as ContentRecord).key), undefined, 'the first that did not is not');
    // A second page after the bound was reached stores nothing.
    tier.beginFill();
    assert.equal(tier.fill([rec('more', 'z'.repeat(140), 5000)], tier.fillMark()).full, true);
    tier.endFill();
  });

  it('a write, an invalidation or a deletion that arrived after the fill began wins over the older copy it read', async () => {
    const { tier, loads } = setup();
    tier.set(rec('newer', 'v9', 9)); // held before the fill, newer than what the fill read
    tier.beginFill();
    const mark = tier.fillMark();
    // The page (versions 5) was read; then, before it goes into the tier:
    tier.set(rec('written', 'v7', 7)); // a write through this process
    tier.apply({ collection: 'c', key: 'changed', version: 6, deleted: false }); // an invalidation from elsewhere
    tier.apply({ collection: 'c', key: 'deleted', version: 6, deleted: true }); // a deletion from elsewhere
    tier.apply({ collection: 'c', key: 'older', version: 4, deleted: false }); // a change older than the page's copy
    tier.apply({ collection: 'c', key: 'same', version: 5, deleted: false }); // the announcement of the very version read
    const page = ['newer', 'written', 'changed', 'deleted', 'older', 'same', 'plain'].map((k) => rec(k, 'v5', 5));
    const r = tier.fill(page, mark);
    tier.endFill();
    assert.deepEqual([r.stored, r.skipped], [3, 4]);
    assert.equal(tier.peekFresh('c', 'newer')?.record?.body.toString(), 'v9');
    assert.equal(tier.peekFresh('c', 'written')?.record?.body.toString(), 'v7');
    assert.equal((await tier.lookup('c', 'changed')).entry.record?.body.toString(), 'loaded changed', 'loaded anew, not the older copy');
    const deleted = await tier.lookup('c', 'deleted');
    assert.equal(deleted.entry.record, undefined, 'still deleted');
    assert.equal(deleted.outcome, 'hit');
    for (const k of ['older', 'same', 'plain']) assert.equal(tier.peekFresh('c', k)?.record?.body.toString(), 'v5', k);
    assert.deepEqual(loads, ['changed']);
  });

  it('a clear (a resync) after a page was read voids that page; pages read after it fill', () => {
    const { tier } = setup();
    tier.beginFill();
    const before = tier.fillMark();
    tier.clear();
    assert.deepEqual({ ...tier.fill([rec('a', 'v1', 1)], before), bytes: 0 }, { stored: 0, skipped: 1, bytes: 0, full: false });
    assert.equal(tier.peekFresh('c', 'a'), undefined);
    assert.equal(tier.fill([rec('a', 'v1', 1)], tier.fillMark()).stored, 1);
    tier.endFill();
  });

  it('a key being loaded is left to its load', async () => {
    let release: (r: ContentRecord) => void = () => undefined;
    const { tier } = setup({ load: () => new Promise((resolve) => (release = resolve)) });
    const lookup = tier.lookup('c', 'a');
    tier.beginFill();
    assert.equal(tier.fill([rec('a', 'filled', 1)], tier.fillMark()).skipped, 1);
    tier.endFill();
    release(rec('a', 'loaded', 2));
    assert.equal((await lookup).entry.record?.body.toString(), 'loaded');
  });

  it('once the fill has ended, changes are no longer remembered for it', () => {
    const { tier } = setup();
    tier.beginFill();
    tier.endFill();
    tier.apply({ collection: 'c', key: 'a', version: 6, deleted: false });
    tier.beginFill();
    // A new fill reads the store after that change: its copy (version 6 or newer) is current.
    assert.equal(tier.fill([rec('a', 'v6', 6)], tier.fillMark()).stored, 1);
    tier.endFill();
  });
});
