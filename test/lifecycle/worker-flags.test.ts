// The workers' Node.js flags (src/cluster.ts workerExecArgv): the primary's, with V8's young generation capped
// unless the user set its size, on the command line or in NODE_OPTIONS.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { WORKER_SEMI_SPACE_MB, workerExecArgv } from '../../src/cluster.ts';

it('adds the young-generation cap to the primary\'s flags', () => {
  assert.deepEqual(workerExecArgv(['--disable-warning=ExperimentalWarning']), ['--disable-warning=ExperimentalWarning', `--max-semi-space-size=${WORKER_SEMI_SPACE_MB}`]);
  assert.deepEqual(workerExecArgv([]), [`--max-semi-space-size=${WORKER_SEMI_SPACE_MB}`]);
});

it('keeps a size the user gave, as a flag or in NODE_OPTIONS, and adds none', () => {
  assert.deepEqual(workerExecArgv(['--max-semi-space-size=64']), ['--max-semi-space-size=64']);
  assert.deepEqual(workerExecArgv(['--max-semi-space-size', '8']), ['--max-semi-space-size', '8']);
  assert.deepEqual(workerExecArgv(['--trace-gc'], '--max-semi-space-size=32 --enable-source-maps'), ['--trace-gc']);
  assert.deepEqual(workerExecArgv(['--trace-gc'], '--max-old-space-size=4096'), ['--trace-gc', `--max-semi-space-size=${WORKER_SEMI_SPACE_MB}`]);
});
