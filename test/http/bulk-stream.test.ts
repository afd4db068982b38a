// A bulk import does not hold its worker: on one worker with the embedded (synchronous) SQLite store, reads are
// answered while a large _bulk is still being imported. Ordering, not timing: a read of the first line's key
// answers 200 (its batch committed) and then a read of the last line's key answers 404 (its batch not yet
// written), so reads were served between the import's batches. Before, the body was read whole and every
// batch written without a turn of the event loop, so no read was answered between the first and last batch.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { serve } from '../support/serve.ts';

const TOKEN = 'bulk-stream-token';
const LINES = 200_000; // 40 batches
const key = (i: number): string => `b${String(i).padStart(6, '0')}`;

describe('a bulk import on a 1-worker server (SQLite)', () => {
  it('lets reads through between its batches', async () => {
    await using srv = await serve({ args: ['--workers', '1', '--seed', '10', '--max-event-loop-delay', '0'], env: { FLOODGATE_ADMIN_TOKEN: TOKEN } });
    const body = Buffer.from(Array.from({ length: LINES }, (_, i) => `${JSON.stringify({ key: key(i), body: `v${i}` })}\n`).join(''));
    let finished = false;
    const job = fetch(`${srv.url}/v1/content/stream/_bulk`, { method: 'POST', body, headers: { Authorization: `Bearer ${TOKEN}` } }).then(async (res) => {
      const report = (await res.json()) as { imported: number };
      finished = true;
      return { status: res.status, report };
    });
    const read = async (k: string): Promise<number> => {
      const res = await fetch(`${srv.url}/v1/content/stream/${k}`);
      await res.arrayBuffer();
      return res.status;
    };
    // Until the first batch commits, its first key is a 404 (each read of it a store read: the write drops the
    // cached 404 when it commits).
    let first = 404;
    while (first === 404 && !finished) first = await read(key(0));
    const lastMeanwhile = await read(key(LINES - 1));
    const done = await job;
    assert.equal(done.status, 200);
    assert.equal(done.report.imported, LINES);
    assert.equal(first, 200, 'a read saw the first batch committed');
    assert.equal(lastMeanwhile, 404, 'and a read after it was answered before the last batch was written');
    assert.equal(await read(key(LINES - 1)), 200);
    assert.equal((await fetch(`${srv.url}/healthz`)).status, 200);
  });
});
