// floodgate_gc_pause_max_seconds (the longest GC pause since the previous scrape) and floodgate_gc_pause_seconds
// (every pause, by kind), read from real collections.
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

  it('counts every pause by kind in a histogram that scrapes do not reset', async () => {
    await using app = await startTestApp({ args: ['--warmup', '0'] });
    let keep: unknown[] = [];
    for (let i = 0; i < 2_000_000; i++) keep = i % 1000 === 0 ? [] : [...keep.slice(-10), { i }];
    await new Promise((r) => setImmediate(r));
    const count = (text: string, kind: string): number => Number(new RegExp(`^floodgate_gc_pause_seconds_count\\{kind="${kind}"\\} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);
    const first = await (await fetch(`${app.url}/metrics`)).text();
    assert.ok(count(first, 'minor') > 0, `scavenges were counted:\n${first.split('\n').filter((l) => l.includes('gc_pause')).join('\n')}`);
    assert.match(first, /^floodgate_gc_pause_seconds_bucket\{le="0.05",kind="minor"\} \d+$/m);
    const second = await (await fetch(`${app.url}/metrics`)).text();
    assert.ok(count(second, 'minor') >= count(first, 'minor'), 'a scrape does not reset the histogram');
    assert.ok(keep.length >= 0);
  });
});
