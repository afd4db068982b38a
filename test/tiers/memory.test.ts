// The memory tier on an injected clock: freshness, stale-while-revalidate, stale-if-error, negative
// caching, version guard, single-flight and the byte bound. No sleeping.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ContentRecord } from '../../src/content/record.ts';
import { MemoryTier, type Loader } from '../../src/tiers/memory.ts';

const rec = (key: string, body: string, version: number): ContentRecord => ({ collection: 'c', key, body: Buffer.from(body), contentType: 'text/plain', version, updatedAt: 0 });

function setup(load: Loader, opts: { maxBytes?: number } = {}) {
  const clock = { t: 1_000_000 };
  const tier = new MemoryTier({ maxBytes: opts.maxBytes ?? 1 << 20, ttlMs: () => 10_000, staleMs: 60_000, negativeTtlMs: 5_000, load, now: () => clock.t, random: () => 0.5 });
  return { tier, clock };
}

describe('memory tier', () => {
  it('loads once, then answers hits synchronously until the TTL', async () => {
    let loads = 0;
    const { tier, clock } = setup(async (_c, k) => (loads++, rec(k, 'v1', 1)));
    assert.equal(tier.peekFresh('c', 'a'), undefined);
    assert.equal((await tier.lookup('c', 'a')).outcome, 'miss');
    assert.equal(tier.peekFresh('c', 'a')?.record?.body.toString(), 'v1');
    clock.t += 9_999;
    assert.equal((await tier.lookup('c', 'a')).outcome, 'hit');
    assert.equal(loads, 1);
  });

  it('serves stale after the TTL while one background load refreshes it', async () => {
    let version = 1;
    let loads = 0;
    const { tier, clock } = setup(async (_c, k) => (loads++, rec(k, `v${version}`, version)));
    await tier.lookup('c', 'a');
    version = 2;
    clock.t += 10_001;
    assert.equal(tier.peekFresh('c', 'a'), undefined, 'no longer fresh');
    const stale = await tier.lookup('c', 'a');
    assert.equal(stale.outcome, 'stale');
    assert.equal(stale.entry.record?.body.toString(), 'v1');
    const also = await tier.lookup('c', 'a');
    assert.equal(also.entry.record?.body.toString(), 'v1', 'still stale while the refresh runs');
    await new Promise((r) => setImmediate(r));
    assert.equal(loads, 2, 'one refresh for two stale lookups');
    assert.equal(tier.peekFresh('c', 'a')?.record?.body.toString(), 'v2');
  });

  it('serves stale when the refresh fails (error-stale), and fails a cold key', async () => {
    let fail = false;
    const { tier, clock } = setup(async (_c, k) => {
      if (fail) throw new Error('store down');
      return rec(k, 'v1', 1);
    });
    await tier.lookup('c', 'a');
    fail = true;
    clock.t += 10_001;
    assert.equal((await tier.lookup('c', 'a')).outcome, 'stale');
    await new Promise((r) => setImmediate(r));
    const second = await tier.lookup('c', 'a');
    assert.equal(second.outcome, 'error-stale');
    assert.equal(second.entry.record?.body.toString(), 'v1');
    await assert.rejects(tier.lookup('c', 'cold'), /store down/);
    clock.t += 60_000;
    assert.equal(tier.peekAny('c', 'a'), undefined, 'nothing is served past the stale window');
    await assert.rejects(tier.lookup('c', 'a'), /store down/);
  });

  it('remembers a 404 for the negative TTL only', async () => {
    let loads = 0;
    let exists = false;
    const { tier, clock } = setup(async (_c, k) => (loads++, exists ? rec(k, 'now', 1) : undefined));
    assert.equal((await tier.lookup('c', 'x')).entry.record, undefined);
    assert.equal((await tier.lookup('c', 'x')).entry.record, undefined);
    assert.equal(loads, 1);
    exists = true;
    clock.t += 5_001;
    assert.equal((await tier.lookup('c', 'x')).entry.record?.body.toString(), 'now');
    assert.equal(loads, 2);
  });

  it('single-flight: 500 concurrent lookups of a cold key make one load', async () => {
    let loads = 0;
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const { tier } = setup(async (_c, k) => {
      loads++;
      await gate;
      return rec(k, 'v', 1);
    });
    const all = Promise.all(Array.from({ length: 500 }, () => tier.lookup('c', 'hot')));
    release();
    const results = await all;
    assert.equal(loads, 1);
    assert.equal(results.filter((r) => r.outcome === 'miss').length, 1);
    assert.equal(results.filter((r) => r.outcome === 'coalesced').length, 499);
  });

  it('never lets an older version replace a newer one', async () => {
    const { tier } = setup(async () => undefined);
    tier.set(rec('k', 'new', 5));
    tier.set(rec('k', 'old', 4));
    assert.equal(tier.peekFresh('c', 'k')?.record?.body.toString(), 'new');
    assert.equal(tier.apply({ collection: 'c', key: 'k', version: 5, deleted: false }), false, 'same version: kept');
    assert.equal(tier.apply({ collection: 'c', key: 'k', version: 3, deleted: true }), false, 'older deletion: kept');
    assert.equal(tier.peekFresh('c', 'k')?.record?.body.toString(), 'new');
    assert.equal(tier.apply({ collection: 'c', key: 'k', version: 6, deleted: true }), true);
    assert.equal(tier.peekFresh('c', 'k')?.record, undefined, 'a deletion is remembered as a 404');
    tier.set(rec('k', 'stale write', 5));
    assert.equal(tier.peekFresh('c', 'k')?.record, undefined, 'a write older than the deletion is ignored');
  });

  it('a write that lands while a load is in flight wins over the load', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const { tier } = setup(async (_c, k) => {
      await gate;
      return rec(k, 'loaded-old', 1);
    });
    const pending = tier.lookup('c', 'k');
    tier.set(rec('k', 'written', 2));
    release();
    const got = await pending;
    assert.equal(got.entry.record?.body.toString(), 'written');
    assert.equal(tier.peekFresh('c', 'k')?.record?.body.toString(), 'written');
  });

  it('stays within its byte bound', async () => {
    const { tier } = setup(async (_c, k) => rec(k, 'x'.repeat(1000), 1), { maxBytes: 50_000 });
    for (let i = 0; i < 500; i++) await tier.lookup('c', String(i));
    assert.ok(tier.size.bytes <= 50_000, `bytes ${tier.size.bytes}`);
    assert.ok(tier.size.entries < 500 && tier.size.entries > 10);
  });
});

describe('memory tier recency', () => {
  it('a key read on the hot path is kept over colder ones when the byte bound evicts', async () => {
    // An entry accounts ~1,214 bytes: ten fit in 13,000, eleven do not.
    const { tier, clock } = setup(async (_c, k) => rec(k, 'x'.repeat(1000), 1), { maxBytes: 13_000 });
    for (let i = 0; i < 10; i++) await tier.lookup('c', `k${i}`);
    clock.t += 2000;
    assert.ok(tier.peekFresh('c', 'k0'), 'k0 is cached');
    for (let i = 10; i < 15; i++) await tier.lookup('c', `k${i}`);
    assert.ok(tier.peekFresh('c', 'k0'), 'k0, read on the hot path, survived the evictions');
    assert.equal(tier.peekFresh('c', 'k1'), undefined, 'k1, never read again, was evicted');
  });
});

describe('memory tier keys', () => {
  it('keeps the default collection and other collections apart', async () => {
    const clock = { t: 0 };
    const tier = new MemoryTier({ maxBytes: 1 << 20, ttlMs: () => 10_000, staleMs: 0, negativeTtlMs: 1000, load: async (c, k) => ({ collection: c, key: k, body: Buffer.from(`${c}/${k}`), contentType: 'text/plain', version: 1, updatedAt: 0 }), now: () => clock.t });
    assert.equal((await tier.lookup('default', '42')).entry.record?.body.toString(), 'default/42');
    assert.equal((await tier.lookup('weather', '42')).entry.record?.body.toString(), 'weather/42');
    assert.equal(tier.peekFresh('default', '42')?.record?.collection, 'default');
    assert.equal(tier.peekFresh('weather', '42')?.record?.collection, 'weather');
    tier.apply({ collection: 'weather', key: '42', version: 2, deleted: true });
    assert.equal(tier.peekFresh('default', '42')?.record?.body.toString(), 'default/42', 'a change elsewhere leaves default alone');
  });
});

describe('memory tier remembered 404s', () => {
  const randomKey = (i: number): string => `missing-${i}-${'z'.repeat(240)}`;

  it('account their key: a 256-character key costs 248 bytes more than an 8-character one', async () => {
    const { tier } = setup(async () => undefined);
    await tier.lookup('c', 'k'.repeat(8));
    const short = tier.size.bytes;
    await tier.lookup('c', 'k'.repeat(256));
    assert.equal(tier.size.bytes - short - short, 248);
    assert.ok(short > 300, `one miss accounts its measured overhead (${short} bytes)`);
    assert.equal(tier.size.misses, 2);
    assert.equal(tier.size.missBytes, tier.size.bytes);
  });

  it('take at most 10 % of the tier: 3,000 misses for ids that do not exist evict no real entry', async () => {
    const real = new Set(Array.from({ length: 40 }, (_, i) => `real-${i}`));
    const { tier } = setup(async (_c, k) => (real.has(k) ? rec(k, 'x'.repeat(1000), 1) : undefined), { maxBytes: 100_000 });
    for (const k of real) await tier.lookup('c', k); // ~48.5 KB of the 100 KB
    for (let i = 0; i < 3000; i++) await tier.lookup('c', randomKey(i));
    for (const k of real) assert.ok(tier.peekFresh('c', k)?.record, `${k} survived`);
    assert.ok(tier.size.missBytes <= 10_000, `misses take ${tier.size.missBytes} bytes`);
    assert.ok(tier.size.misses > 5, 'the newest misses are still remembered');
    assert.ok(tier.peekFresh('c', randomKey(2999)), 'the newest miss is remembered');
    assert.equal(tier.peekFresh('c', randomKey(0)), undefined, 'the oldest misses went first');
    assert.ok(tier.size.bytes <= 100_000);
  });

  it('a deletion is not a miss: its version still guards against an older write after a flood of misses', async () => {
    const { tier } = setup(async () => undefined, { maxBytes: 100_000 });
    tier.set(rec('k', 'v5', 5));
    tier.apply({ collection: 'c', key: 'k', version: 6, deleted: true });
    for (let i = 0; i < 3000; i++) await tier.lookup('c', randomKey(i));
    tier.set(rec('k', 'stale write', 5));
    assert.equal(tier.peekFresh('c', 'k')?.record, undefined, 'the older write is still ignored');
    assert.equal(tier.peekFresh('c', 'k')?.version, 6);
  });

  it('a remembered miss replaced by real content leaves the misses\' budget', async () => {
    let exists = false;
    const { tier, clock } = setup(async (_c, k) => (exists ? rec(k, 'now', 1) : undefined));
    await tier.lookup('c', 'x');
    assert.equal(tier.size.misses, 1);
    exists = true;
    clock.t += 5_001;
    assert.equal((await tier.lookup('c', 'x')).entry.record?.body.toString(), 'now');
    assert.deepEqual([tier.size.misses, tier.size.missBytes], [0, 0]);
    tier.apply({ collection: 'c', key: 'y', version: 3, deleted: true });
    assert.equal(tier.size.misses, 0, 'a deletion is not counted as a miss');
  });
});
