// The RedisRedisTier contract: what every L2 tier (Redis standalone, Redis Cluster, any future one) must do. Run it with
// tierContract(name, make) from a *.test.ts; make() opens a fresh tier, which the contract closes afterwards.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { etagNumberOf } from '../../src/content/read-result.ts';
import type { ContentRecord } from '../../src/content/record.ts';
import type { RedisTier } from '../../src/tiers/redis-tier.ts';

/** Polls until `check` is true or `ms` passed; resolves with the time it took. */
export async function eventually(what: string, check: () => boolean, ms = 5_000): Promise<number> {
  const start = performance.now();
  while (!check()) {
    if (performance.now() - start > ms) assert.fail(`${what}: not within ${ms} ms`);
    await sleep(10);
  }
  return performance.now() - start;
}

export function tierContract(name: string, make: () => Promise<RedisTier>): void {
  describe(`RedisTier contract: ${name}`, () => {
    let tier: RedisTier;
    // Every test writes under its own collection, so tests never see each other's keys.
    let n = 0;
    const collection = (): string => `c${randomBytes(4).toString('hex')}-${++n}`;
    const record = (c: string, key: string, version: number, body: Buffer | string = `v${version}`): ContentRecord => ({
      collection: c,
      key,
      body: Buffer.isBuffer(body) ? body : Buffer.from(body),
      contentType: 'text/plain; charset=utf-8',
      version,
      updatedAt: 1_700_000_000_000 + version,
    });

    before(async () => {
      tier = await make();
      await eventually('the tier becomes healthy', () => tier.healthy);
    });
    after(async () => {
      await tier?.close();
    });

    it('answers ping and reports itself healthy', async () => {
      await tier.ping();
      assert.equal(tier.healthy, true);
      assert.match(tier.name, /\S/);
    });

    it('misses a key it never held', async () => {
      assert.equal(await tier.get(collection(), 'absent'), undefined);
    });

    it('round-trips a record byte for byte, including bytes that are not UTF-8', async () => {
      const c = collection();
      const body = Buffer.from([0xff, 0xfe, 0x00, 0x80, 0xc3, 0x28, 0x0d, 0x0a, 0x00]);
      const rec = { ...record(c, 'bin', 7, body), contentType: 'application/octet-stream' };
      await tier.set(rec, 60);
      const got = await tier.get(c, 'bin');
      assert.ok(got);
      assert.ok(Buffer.isBuffer(got.body));
      const { etag, ...rest } = got;
      assert.deepEqual(rest, rec);
      // a tier may hand back the body's validator with it; if it does, it is the body's
      if (etag !== undefined) assert.equal(etag, etagNumberOf(body));
    });

    it('round-trips an empty body and a large one (512 KiB, many socket reads)', async () => {
      const c = collection();
      const large = randomBytes(512 * 1024);
      await Promise.all([tier.set(record(c, 'empty', 1, Buffer.alloc(0)), 60), tier.set(record(c, 'large', 1, large), 60)]);
      assert.deepEqual((await tier.get(c, 'empty'))?.body, Buffer.alloc(0));
      assert.ok((await tier.get(c, 'large'))?.body.equals(large));
    });

    it('keeps keys apart that differ only in braces, percent signs, colons or Unicode', async () => {
      const c = collection();
      const keys = ['a{b}', 'a%7Bb%7D', 'a:b', 'a%3Ab', '{', '}', '%', 'ä ö', 'emoji 🎉', 'x}y{z'];
      await Promise.all(keys.map((k, i) => tier.set(record(c, k, i + 1, `body of ${k}`), 60)));
      for (const [i, k] of keys.entries()) {
        const got = await tier.get(c, k);
        assert.equal(got?.body.toString(), `body of ${k}`, k);
        assert.equal(got?.version, i + 1);
        assert.equal(got?.key, k);
      }
      assert.equal(await tier.get(collection(), keys[0]!), undefined, 'another collection does not see the key');
    });

    it('honours the TTL (±10 % jitter): still there at first, gone after about a second', async () => {
      const c = collection();
      const start = performance.now();
      await tier.set(record(c, 'ttl', 1), 1);
      let firstMiss: number | undefined;
      while (firstMiss === undefined) {
        const elapsed = performance.now() - start;
        if ((await tier.get(c, 'ttl')) === undefined) firstMiss = elapsed;
        else if (elapsed > 3_000) assert.fail('the record outlived its 1 s TTL by far');
        else await sleep(25);
      }
      assert.ok(firstMiss >= 850, `expired after ${firstMiss.toFixed(0)} ms; a 1 s TTL jitters by ±10 % at most`);
    });

    it('stores nothing for a TTL of zero', async () => {
      const c = collection();
      await tier.set(record(c, 'k', 1), 0);
      assert.equal(await tier.get(c, 'k'), undefined);
    });

    it('never lets an older version overwrite a newer record', async () => {
      const c = collection();
      await tier.set(record(c, 'k', 5), 60);
      await tier.set(record(c, 'k', 4), 60);
      assert.equal((await tier.get(c, 'k'))?.version, 5);
      await tier.set(record(c, 'k', 5, 'same version again'), 60);
      assert.equal((await tier.get(c, 'k'))?.body.toString(), 'v5', 'an equal version does not replace either');
      await tier.set(record(c, 'k', 6), 60);
      assert.equal((await tier.get(c, 'k'))?.version, 6);
    });

    it('invalidate removes the key; a later write of a newer version is cached again', async () => {
      const c = collection();
      await tier.set(record(c, 'k', 1), 60);
      await tier.invalidate({ collection: c, key: 'k', version: 2, deleted: false });
      assert.equal(await tier.get(c, 'k'), undefined);
      await tier.set(record(c, 'k', 1), 60);
      assert.equal(await tier.get(c, 'k'), undefined, 'the version read before the change must not come back');
      await tier.set(record(c, 'k', 2), 60);
      assert.equal((await tier.get(c, 'k'))?.version, 2, 'the version the change announced is welcome');
    });

    it('a deletion leaves a tombstone: an older set after it is ignored, a newer one is not', async () => {
      const c = collection();
      await tier.set(record(c, 'k', 3), 60);
      await tier.invalidate({ collection: c, key: 'k', version: 4, deleted: true });
      assert.equal(await tier.get(c, 'k'), undefined);
      await tier.set(record(c, 'k', 3), 60);
      assert.equal(await tier.get(c, 'k'), undefined, 'a slow reader cannot resurrect the deleted record');
      await tier.set(record(c, 'k', 4), 60);
      assert.equal(await tier.get(c, 'k'), undefined, 'nor write at the deletion\'s own version');
      await tier.set(record(c, 'k', 5), 60);
      assert.equal((await tier.get(c, 'k'))?.version, 5, 're-created content is cached');
    });

    it('ignores an invalidation older than what it holds, and repeated invalidations are harmless', async () => {
      const c = collection();
      await tier.set(record(c, 'k', 10), 60);
      await tier.invalidate({ collection: c, key: 'k', version: 9, deleted: true });
      await tier.invalidate({ collection: c, key: 'k', version: 10, deleted: false });
      await tier.invalidate({ collection: c, key: 'k', version: 10, deleted: false });
      assert.equal((await tier.get(c, 'k'))?.version, 10, 'the record the change announced stays');
      await tier.invalidate({ collection: c, key: 'k', version: 11, deleted: true });
      await tier.invalidate({ collection: c, key: 'k', version: 11, deleted: true });
      await tier.invalidate({ collection: c, key: 'k', version: 8, deleted: false });
      await tier.set(record(c, 'k', 10), 60);
      assert.equal(await tier.get(c, 'k'), undefined);
      await tier.invalidate({ collection: c, key: 'never-cached', version: 1, deleted: true });
      assert.equal(await tier.get(c, 'never-cached'), undefined);
    });

    it('getMany and setMany: many keys in one pipelined call, in order, with the version guard kept', async () => {
      const c = collection();
      const keys = Array.from({ length: 1500 }, (_, i) => `k{${i}}%`);
      await tier.setMany(keys.filter((_, i) => i % 2 === 0).map((k) => record(c, k, 10, `body ${k}`)), 60);
      const got = await tier.getMany(c, keys);
      assert.equal(got.length, keys.length);
      got.forEach((r, i) => {
        if (i % 2 === 1) assert.equal(r, undefined, keys[i]);
        else assert.equal(r?.body.toString(), `body ${keys[i]}`);
      });
      assert.equal(got[0]?.version, 10);
      assert.equal(got[0]?.key, keys[0]);
      assert.equal(got[0]?.collection, c);
      // Older versions do not replace newer ones; newer ones do; a deletion's tombstone reads as a miss.
      await tier.setMany([record(c, keys[0] as string, 9, 'older'), record(c, keys[2] as string, 11, 'newer')], 60);
      await tier.invalidate({ collection: c, key: keys[4] as string, version: 12, deleted: true });
      const again = await tier.getMany(c, [keys[0] as string, keys[2] as string, keys[4] as string]);
      assert.deepEqual(again.map((r) => r?.body.toString()), [`body ${keys[0]}`, 'newer', undefined]);
      assert.deepEqual(await tier.getMany(c, []), []);
      await tier.setMany([record(c, 'ttl0', 1)], 0);
      assert.equal(await tier.get(c, 'ttl0'), undefined, 'a TTL of zero stores nothing');
    });

    it('answers 2,000 concurrent gets (hits and misses) without a failure', async () => {
      const c = collection();
      await Promise.all(Array.from({ length: 200 }, (_, i) => tier.set(record(c, `k${i}`, i + 1), 60)));
      const results = await Promise.allSettled(Array.from({ length: 2_000 }, (_, i) => tier.get(c, `k${i % 250}`)));
      const rejected = results.filter((r) => r.status === 'rejected');
      assert.equal(rejected.length, 0, `first failure: ${String((rejected[0] as PromiseRejectedResult | undefined)?.reason)}`);
      for (const [i, r] of results.entries()) {
        const got = (r as PromiseFulfilledResult<ContentRecord | undefined>).value;
        if (i % 250 < 200) assert.equal(got?.version, (i % 250) + 1);
        else assert.equal(got, undefined);
      }
    });
  });
}
