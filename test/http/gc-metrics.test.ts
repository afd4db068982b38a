// floodgate_gc_pause_max_seconds: the longest GC pause since the previous scrape, read from real collections.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { startTestApp } from '../support/app.ts';

const gauge = (text: string): number => Number(/^floodgate_gc_pause_max_seconds (\S+)$/m.exec(text)?.[1] ?? NaN);

describe('GC pause gauge', () => {
  it('reports a pause after garbage was collected', async () => {
    await using app = await startTestApp({ args: ['--warmup', '0'] });
    let keep: unknown[] = [];
    for (let i = 0; i < 2_000_000; i++) keep = i % 1000 === 0 ? [] : [...keep.slice(-10), { i }];
    await new Promise((r) => setImmediate(r)); // gc entries are delivered asynchronously
    const first = gauge(await (await fetch(`${app.url}/metrics`)).text());
    assert.ok(first > 0, `a pause was seen (${first} s)`);
    assert.ok(keep.length >= 0);
  });
});
