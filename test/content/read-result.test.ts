// The validator of a body: deterministic, 48 bits, and different whenever the body changes.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { etagNumberOf, etagText } from '../../src/content/read-result.ts';

describe('etagNumberOf', () => {
  it('is the same for equal bodies (on every instance) and a whole number of at most 48 bits', () => {
    for (const size of [0, 1, 140, 2048, 2049, 100_000]) {
      const body = randomBytes(size);
      const n = etagNumberOf(body);
      assert.equal(etagNumberOf(Buffer.from(body)), n, `size ${size}`);
      assert.ok(Number.isSafeInteger(n) && n >= 0 && n < 2 ** 48, `size ${size}: ${n}`);
      assert.match(etagText(n), /^"[A-Za-z0-9_-]{8}"$/);
    }
  });

  it('changes when any one byte of a small or a large body changes', () => {
    for (const size of [140, 5000]) {
      const body = randomBytes(size);
      const base = etagNumberOf(body);
      const seen = new Set([base]);
      for (let i = 0; i < size; i += size > 1000 ? 37 : 1) {
        const changed = Buffer.from(body);
        changed[i] = (changed[i] as number) ^ 1;
        seen.add(etagNumberOf(changed));
      }
      assert.equal(seen.size, 1 + Math.ceil(size / (size > 1000 ? 37 : 1)), `size ${size}: a one-byte change kept the ETag`);
    }
  });

  it('tells 200,000 distinct demo-like bodies apart (no collision among them)', () => {
    const seen = new Set<number>();
    for (let id = 1; id <= 200_000; id++) seen.add(etagNumberOf(Buffer.from(`{"user_id":${id},"name":"user ${id}","segment":"${id % 7}"}`)));
    assert.equal(seen.size, 200_000);
  });
});
