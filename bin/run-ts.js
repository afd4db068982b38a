#!/usr/bin/env node
// Runs a TypeScript script (benchmarks, tools) with the same Node version check and warning filter as the CLI.
import { pathToFileURL } from 'node:url';
import { resolve } from 'node:path';
const major = Number(process.versions.node.split('.')[0]);
if (major < 24) {
  process.stderr.write(`needs Node.js 24 or newer; this is ${process.version}. Run it through npm.\n`);
  process.exit(1);
}
const { silenceExperimentalWarnings } = await import('./warnings.js');
silenceExperimentalWarnings();
const [file, ...args] = process.argv.slice(2);
if (!file) { process.stderr.write('usage: run-ts.js FILE.ts [args]\n'); process.exit(2); }
process.argv = [process.argv[0], resolve(file), ...args];
await import(pathToFileURL(resolve(file)).href);
