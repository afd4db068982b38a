// Rewrites the generated parts of README.md: the configuration table (from src/config.ts OPTIONS) and the
// error table (from src/http/errors.ts ERRORS). Run `npm run docs` after changing either; test/docs.test.ts fails until you do.
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { optionsMarkdown } from '../src/config.ts';
import { ERRORS } from '../src/http/errors.ts';

export function errorsMarkdown(): string {
  const rows = ['| Code | Status | Meaning |', '| --- | --- | --- |'];
  for (const [code, e] of Object.entries(ERRORS)) rows.push(`| \`${code}\` | ${e.status} | ${e.message} |`);
  return rows.join('\n');
}

export function replaceBlock(text: string, name: string, body: string): string {
  const start = `<!-- ${name}:start -->`;
  const end = `<!-- ${name}:end -->`;
  const i = text.indexOf(start);
  const j = text.indexOf(end);
  if (i === -1 || j === -1) throw new Error(`README.md lacks the ${start} … ${end} markers`);
  return `${text.slice(0, i + start.length)}\n${body}\n${text.slice(j)}`;
}

export function generatedReadme(text: string): string {
  return replaceBlock(replaceBlock(text, 'config', optionsMarkdown()), 'errors', errorsMarkdown());
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const path = new URL('../README.md', import.meta.url);
  writeFileSync(path, generatedReadme(readFileSync(path, 'utf8')));
  process.stdout.write('README.md: configuration and error tables regenerated\n');
}
