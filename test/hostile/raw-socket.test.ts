// The raw-socket corpus (test/hostile/corpus.ts) against a real `floodgate serve`: each malformed request is
// answered 4xx or the connection closed, the well-formed odd ones are answered right, the worker is never
// replaced, and a normal request on a new connection is answered after every case.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { get, startServe, type Server } from '../lifecycle/helpers.ts';
import { CORPUS, judgeRaw, sendRaw } from './corpus.ts';

describe('hostile input: raw-socket corpus', () => {
  let s: Server;
  let workers: number[];
  before(async () => {
    s = await startServe(['--workers', '1', '--seed', '10', '--headers-timeout', '1s', '--request-timeout', '2s', '--max-header-size', '16KiB'], { FLOODGATE_ADMIN_TOKEN: 'raw-token' });
    workers = s.workers();
  });
  after(async () => {
    await s?.kill();
  });

  for (const c of CORPUS) {
    it(c.name, async () => {
      const port = Number(new URL(s.url).port);
      const r = await sendRaw(port, c);
      const problem = judgeRaw(c, r);
      assert.equal(problem, undefined, `${c.name}: ${problem}`);
      const next = await get(`${s.url}/data?user_id=1`);
      assert.equal(next.status, 200, 'the next normal request is answered');
      assert.deepEqual(s.workers(), workers, 'the worker was replaced');
    });
  }

  it('the worker lived through the whole corpus', () => {
    assert.doesNotMatch(s.output(), /worker died|unhandled|uncaught/i, s.output().slice(-3000));
  });
});
