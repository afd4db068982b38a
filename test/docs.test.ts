// The README's configuration and error tables are generated from the code; this keeps them in step.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { it } from 'node:test';
import { generatedReadme } from '../scripts/docs.ts';

it('README.md tables match src/config.ts OPTIONS and src/http/errors.ts ERRORS (run `npm run docs`)', () => {
  const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
  assert.equal(readme, generatedReadme(readme));
});
