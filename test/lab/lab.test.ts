// floodgate lab as a user runs it: real serve and flood processes, a table whose rows show the layers work.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { it } from 'node:test';

it('floodgate lab prints a row per scenario; the memory tier spares the store', () => {
  const r = spawnSync(process.execPath, ['--disable-warning=ExperimentalWarning', 'bin/floodgate.js', 'lab', '--seconds', '1', '--users', '500', '-c', '10', '--only', 'store,memory'], {
    encoding: 'utf8',
    env: { ...process.env, DATABASE_URL: '', REDIS_URL: '' },
    timeout: 120_000,
  });
  assert.equal(r.status, 0, r.stderr);
  const rows = r.stdout.split('\n').filter((l) => /^(store only|memory tier)/.test(l));
  assert.equal(rows.length, 2, r.stdout);
  const cells = (line: string) => line.split(/\s{2,}/);
  const [store, memory] = rows.map(cells);
  assert.ok(Number((store?.[1] ?? '').replaceAll(',', '')) > 0, 'store-only row answered requests');
  assert.equal(store?.[5], '0', 'no errors on the store-only row');
  assert.equal(store?.[7], '1.000', 'caches off: one store read per request');
  assert.equal(memory?.[5], '0', 'no errors on the memory row');
  assert.ok(Number(memory?.[7]) < 0.05, `memory tier: almost no store reads (${memory?.[7]})`);
});

it('floodgate lab rejects an unknown scenario clearly', () => {
  const r = spawnSync(process.execPath, ['--disable-warning=ExperimentalWarning', 'bin/floodgate.js', 'lab', '--only', 'nope'], { encoding: 'utf8' });
  assert.equal(r.status, 2);
  assert.match(r.stderr, /unknown or unavailable scenario nope/);
});
