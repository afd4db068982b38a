// The README's configuration and error tables are generated from the code; this keeps them in step.
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { it } from 'node:test';
import { generatedReadme } from '../scripts/docs.ts';
import { OPTIONS, formatDefault, parseCountText, parseDurationText, parseSizeText } from '../src/config.ts';

it('README.md tables match src/config.ts OPTIONS and src/http/errors.ts ERRORS (run `npm run docs`)', () => {
  const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
  assert.equal(readme, generatedReadme(readme));
});

// Every default the README and docs/ state for an option, in a table row (`--flag` | default | …) or in prose
// (`--flag` (default X) / `--flag` … (default X)), read in the flag grammar and compared with OPTIONS: README's
// table is generated from OPTIONS, so a disagreement here is README and docs stating different defaults.
it('README and docs/ state the same default for every option as src/config.ts', () => {
  const specs = new Map(Object.values(OPTIONS).filter((s) => 'flag' in s).map((s) => [(s as { flag: string }).flag, s as { kind: string; default: unknown; env: string }]));
  const files = ['README.md', ...readdirSync(new URL('../docs/', import.meta.url)).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];
  const read = (kind: string, text: string): unknown => {
    const t = text.replace(/`/g, '').replace(/,(?=\d{3})/g, '').replace(/(\d)\s+(?=[a-zµ]+$)/i, '$1').trim();
    if (kind === 'duration') return parseDurationText(t);
    if (kind === 'bytes') return parseSizeText(t);
    if (kind === 'int') return parseCountText(t);
    if (kind === 'bool') return t === 'on' || t === 'true';
    return ['empty', 'unset', 'none', ''].includes(t) ? '' : t;
  };
  const problems: string[] = [];
  let checked = 0;
  for (const file of files) {
    const lines = readFileSync(new URL(`../${file}`, import.meta.url), 'utf8').split('\n');
    lines.forEach((line, i) => {
      const found: [string, string][] = [];
      const row = /^\|\s*`--([a-z-]+)`[^|]*\|\s*(?:`[A-Z_]+`(?:\s*\/\s*`[A-Z_]+`)*\s*\|\s*)?([^|]+?)\s*\|/.exec(line);
      if (row?.[1] && row[2]) found.push([row[1], row[2]]);
      for (const m of line.matchAll(/`--([a-z-]+)`[^`(]{0,40}\(default ((?:[^),;:]|,(?=\d{3}))+)/g)) if (m[1] && m[2]) found.push([m[1], m[2]]);
      for (const [flag, stated] of found) {
        const spec = specs.get(flag);
        if (!spec || ('defaultDoc' in spec)) continue;
        let value: unknown;
        try {
          value = read(spec.kind, stated);
        } catch {
          continue; // not a value (a column of meanings, a range): not a stated default
        }
        checked++;
        if (value !== spec.default) problems.push(`${file}:${i + 1}: --${flag} default "${stated}", but it is ${formatDefault(spec as never)}`);
        // One spelling of a size everywhere (16KiB, not 16384 in one place and 16 KiB in another).
        else if (spec.kind === 'bytes' && stated.replace(/[`\s]/g, '') !== formatDefault(spec as never)) problems.push(`${file}:${i + 1}: --${flag} default spelled "${stated}"; write ${formatDefault(spec as never)}`);
      }
    });
  }
  assert.deepEqual(problems, []);
  assert.ok(checked >= 10, `only ${checked} stated defaults found: the patterns no longer match the docs`);
});
