#!/usr/bin/env node
// floodgate runs its TypeScript sources directly: Node.js 24 strips the types at load time, so there is no
// build step. Through npm (`npm start`, `npx floodgate`) the Node.js 24 from devDependencies comes first on PATH.
const major = Number(process.versions.node.split('.')[0]);
if (major < 24) {
  process.stderr.write(
    `floodgate needs Node.js 24 or newer; this is ${process.version}.\n` +
      'Run it through npm (npm start, npm run floodgate -- <command>, npx floodgate <command>), which puts the\n' +
      'Node.js 24 installed in node_modules first on the PATH, or install Node.js 24 LTS.\n',
  );
  process.exit(1);
}
// node:sqlite still announces itself as experimental on Node 24; that warning only confuses users.
const { silenceExperimentalWarnings } = await import('./warnings.js');
silenceExperimentalWarnings();
const { main } = await import('../src/cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
