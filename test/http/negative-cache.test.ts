// Misses for ids that do not exist cannot evict real content from the memory tier: real HTTP 404s, 256-byte
// keys, unauthenticated, against a 512 KiB tier holding 300 real records.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { startTestApp } from '../support/app.ts';

const USERS = 300;

describe('remembered 404s in a small memory tier', () => {
  it('3,000 random 404s leave every cached real entry a hit', async () => {
    await using app = await startTestApp({ env: { FLOODGATE_SEED: String(USERS) }, args: ['--cache-bytes', '512KiB', '--warmup', '0'] });
    for (let id = 1; id <= USERS; id++) assert.equal((await fetch(`${app.url}/data?user_id=${id}`)).status, 200);
    const before = app.service.memory?.size;
    let next = 0;
    const flood = async (): Promise<void> => {
      while (next < 3000) {
        const key = `nope-${next++}-${Math.random().toString(36).slice(2)}`.padEnd(256, 'z');
        const r = await fetch(`${app.url}/data?user_id=${key}`);
        assert.equal(r.status, 404);
        await r.arrayBuffer();
      }
    };
    await Promise.all(Array.from({ length: 16 }, flood));
    const size = app.service.memory?.size;
    assert.ok(size !== undefined && before !== undefined);
    const notHits: string[] = [];
    for (let id = 1; id <= USERS; id++) {
      const r = await fetch(`${app.url}/data?user_id=${id}`);
      await r.arrayBuffer();
      if (r.headers.get('x-cache') !== 'hit') notHits.push(`${id}: ${r.headers.get('x-cache')}`);
    }
    assert.deepEqual(notHits, [], `real entries evicted by 404s (tier before: ${JSON.stringify(before)}, after: ${JSON.stringify(size)})`);
    assert.ok(size.missBytes <= 0.1 * 512 * 1024, `404s take ${size.missBytes} bytes of the tier`);
    assert.ok(size.bytes <= 512 * 1024);
  });
});
