#!/usr/bin/env node
// The whole suite: node's own test runner over test/**/*.test.ts, on the Node 24 npm put first on PATH.
// Usage: node scripts/test.js [file or glob ...]   (defaults to every test file)
import { spawnSync } from 'node:child_process';

const major = Number(process.versions.node.split('.')[0]);
if (major < 24) {
  process.stderr.write(`the tests need Node.js 24 or newer; this is ${process.version}. Run them with npm test.\n`);
  process.exit(1);
}
const files = process.argv.slice(2);
const args = [
  '--disable-warning=ExperimentalWarning',
  '--test',
  '--test-timeout=180000',
  ...(files.length > 0 ? files : ['test/**/*.test.ts']),
];
const result = spawnSync(process.execPath, args, { stdio: 'inherit' });
process.exit(result.status ?? 1);
