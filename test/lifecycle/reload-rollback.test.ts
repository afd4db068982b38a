// A reload whose new configuration fails to start part-way is rolled back, and two configurations never keep
// serving side by side, even when the previous configuration cannot start again at that moment either (the
// dependency that failed the reload still failing): the worker on the failed configuration is retired anyway and
// its replacement started later. The supervisor runs for real (node:cluster) with stand-in workers
// (fixtures/reload-harness.ts) whose starts succeed or fail by plan.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const HARNESS = fileURLToPath(new URL('./fixtures/reload-harness.ts', import.meta.url));

function run(plan: Record<string, boolean[]>): { reloaded: { ok: boolean; configs: string[] }; settled: { configs: string[] }; log: string } {
  const dir = mkdtempSync(join(tmpdir(), 'fg-rollback-'));
  try {
    writeFileSync(join(dir, 'plan.json'), JSON.stringify(plan));
    const r = spawnSync(process.execPath, ['--disable-warning=ExperimentalWarning', HARNESS, dir], { encoding: 'utf8', timeout: 60_000 });
    const log = readFileSync(join(dir, 'primary.log'), 'utf8');
    assert.equal(r.status, 0, r.stderr + log);
    const [reloaded, settled] = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { ok: boolean; configs: string[] });
    assert.ok(reloaded && settled, r.stdout);
    return { reloaded, settled, log };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('a reload that fails part-way', () => {
  it('the second new worker fails: the first is rolled back, and both workers serve the previous configuration', () => {
    const { reloaded, settled, log } = run({ b: [true, false] });
    assert.equal(reloaded.ok, false);
    assert.deepEqual(reloaded.configs, ['a', 'a'], log);
    assert.deepEqual(settled.configs, ['a', 'a']);
    assert.match(log, /reload failed: rolling the replaced workers back/);
  });

  it('and the previous configuration cannot start at once either: never two configurations side by side; the count comes back', () => {
    // a: the two first workers, then the roll back's worker fails, then the replacement started later succeeds.
    const { reloaded, settled, log } = run({ a: [true, true, false], b: [true, false] });
    assert.equal(reloaded.ok, false);
    assert.deepEqual(reloaded.configs, ['a'], `one configuration serves, a worker fewer for now\n${log}`);
    assert.deepEqual(settled.configs, ['a', 'a'], log);
  });

  it('the first new worker fails: nothing was replaced, so nothing restarts', () => {
    const { reloaded, settled, log } = run({ b: [false] });
    assert.equal(reloaded.ok, false);
    assert.deepEqual(reloaded.configs, ['a', 'a']);
    assert.deepEqual(settled.configs, ['a', 'a']);
    assert.match(log, /"msg":"rolled back"/);
    assert.equal(log.split('\n').filter((l) => l.includes('"msg":"rolling restart"')).length, 1, `no worker restarted for nothing\n${log}`);
  });
});
