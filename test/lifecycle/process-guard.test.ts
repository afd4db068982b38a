// serve's process guard, in real processes: an unhandled rejection is logged, counted and survived; an uncaught
// exception is logged and still ends the process (exit 1), since its state may be half-updated.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const GUARD = fileURLToPath(new URL('../../src/process-guard.ts', import.meta.url));

function run(body: string): { status: number | null; stdout: string; stderr: string } {
  const script = `import { pino } from 'pino';
import { installProcessGuard } from ${JSON.stringify(GUARD)};
const guard = installProcessGuard(pino());
${body}`;
  const r = spawnSync(process.execPath, ['--disable-warning=ExperimentalWarning', '--input-type=module', '-e', script], { encoding: 'utf8', cwd: fileURLToPath(new URL('../..', import.meta.url)), timeout: 20_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('the process guard', () => {
  it('logs and counts an unhandled rejection, and the process lives on', () => {
    const r = run(`void Promise.reject(new Error('stray rejection'));
void (async () => { throw new Error('second one'); })();
setTimeout(() => { console.log('alive after', guard.rejections); }, 100);`);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /alive after 2/);
    assert.match(r.stdout, /unhandled promise rejection: logged and survived/);
    assert.match(r.stdout, /stray rejection/);
  });

  it('logs an uncaught exception and exits 1', () => {
    const r = run(`setTimeout(() => { throw new Error('sync throw'); }, 10);
setTimeout(() => { console.log('still here'); }, 500);`);
    assert.equal(r.status, 1);
    assert.match(r.stdout, /"level":60.*sync throw/);
    assert.doesNotMatch(r.stdout, /still here/);
  });
});
