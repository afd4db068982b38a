// The README's configuration and error tables are generated from the code; this keeps them in step.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, it } from 'node:test';
import { generatedReadme } from '../scripts/docs.ts';
import { OPTIONS, formatDefault, parseCountText, parseDurationText, parseSizeText } from '../src/config.ts';
import { openStore } from '../src/store/open.ts';
import { startTestApp } from './support/app.ts';

it('README.md tables match src/config.ts OPTIONS and src/http/errors.ts ERRORS (run `npm run docs`)', () => {
  const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
  assert.equal(readme, generatedReadme(readme));
});

const specs = new Map(Object.values(OPTIONS).filter((s) => 'flag' in s).map((s) => [(s as { flag: string }).flag, s as { kind: string; default: unknown; env: string }]));
/** A stated default read in the flag grammar of its option's kind. */
function readDefault(kind: string, text: string): unknown {
  const t = text.replace(/`/g, '').replace(/,(?=\d{3})/g, '').replace(/(\d)\s+(?=[a-zµ]+$)/i, '$1').trim();
  if (kind === 'duration') return parseDurationText(t);
  if (kind === 'bytes') return parseSizeText(t);
  if (kind === 'int') return parseCountText(t);
  if (kind === 'bool') return t === 'on' || t === 'true';
  return ['empty', 'unset', 'none', ''].includes(t) ? '' : t;
}

// One way to state a default in every command's --help, "(default X)"; and where a command takes the server's
// options (serve, import, export, seed, migrate), the default it states is the one src/config.ts has.
it('every command\'s --help states defaults as "(default X)", and the server options\' defaults agree with src/config.ts', () => {
  const bin = new URL('../bin/floodgate.js', import.meta.url).pathname;
  const problems: string[] = [];
  let checked = 0;
  for (const command of ['serve', 'import', 'export', 'seed', 'migrate', 'flood', 'lab']) {
    const r = spawnSync(process.execPath, ['--disable-warning=ExperimentalWarning', bin, command, '--help'], { encoding: 'utf8' });
    assert.equal(r.status, 0, `${command} --help: ${r.stderr}`);
    r.stdout.split('\n').forEach((line, i) => {
      if (/\[default|default:\s/i.test(line)) problems.push(`${command} --help line ${i + 1}: write "(default X)": ${line.trim()}`);
      if (['flood', 'lab'].includes(command)) return;
      const m = /^\s*--([a-z-]+)\b.*\(default ([^)]+)\)/.exec(line);
      const spec = m?.[1] === undefined ? undefined : specs.get(m[1]);
      if (!m?.[2] || !spec || 'defaultDoc' in spec) return;
      let value: unknown;
      try {
        value = readDefault(spec.kind, m[2]);
      } catch {
        return;
      }
      checked++;
      if (value !== spec.default) problems.push(`${command} --help line ${i + 1}: --${m[1]} default "${m[2]}", but it is ${formatDefault(spec as never)}`);
    });
  }
  assert.deepEqual(problems, []);
  assert.ok(checked >= 10, `only ${checked} stated defaults found in the help texts`);
});

// Every default the README and docs/ state for an option, in a table row (`--flag` | default | …) or in prose
// (`--flag` (default X) / `--flag` … (default X)), read in the flag grammar and compared with OPTIONS: README's
// table is generated from OPTIONS, so a disagreement here is README and docs stating different defaults.
it('README and docs/ state the same default for every option as src/config.ts', () => {
  const files = ['README.md', ...readdirSync(new URL('../docs/', import.meta.url)).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];
  const read = readDefault;
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

// CHANGELOG.md: every release after the first says, under "### Upgrading", what to do when moving to it.
it('CHANGELOG.md has an Upgrading note in every release after the first', () => {
  const text = readFileSync(new URL('../CHANGELOG.md', import.meta.url), 'utf8');
  const releases = text.split(/^(?=## )/m).filter((s) => s.startsWith('## '));
  assert.ok(releases.length >= 2, 'Unreleased and at least one release');
  const missing = releases.slice(0, -1).filter((r) => !/^### Upgrading\n\n?- /m.test(r)).map((r) => r.split('\n')[0]);
  assert.deepEqual(missing, []);
});

// docs/store.md's online backup of the SQLite store, run as written (its path aside) against a serving store.
it('the SQLite backup command in docs/store.md copies a serving store, and the copy opens with every record', async () => {
  const doc = readFileSync(new URL('../docs/store.md', import.meta.url), 'utf8');
  const line = /^node -e "(.+)"$/m.exec(doc)?.[1] ?? '';
  assert.ok(line.includes("'data/floodgate.db'") && line.includes("'floodgate-backup.db'"), 'the documented command');
  await using app = await startTestApp({ env: { FLOODGATE_ADMIN_TOKEN: 't' } });
  const put = await fetch(`${app.url}/v1/content/notes/after-seed`, { method: 'PUT', headers: { authorization: 'Bearer t' }, body: 'written while serving' });
  assert.equal(put.status, 201);
  const backupDir = mkdtempSync(join(tmpdir(), 'fg-backup-'));
  after(() => rmSync(backupDir, { recursive: true, force: true }));
  const out = join(backupDir, 'floodgate.db');
  const script = line.replace("'data/floodgate.db'", JSON.stringify(join(app.dataDir, 'floodgate.db')).replace(/"/g, "'")).replace("'floodgate-backup.db'", JSON.stringify(out).replace(/"/g, "'"));
  const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^copied \d+ pages$/m);
  const copy = await openStore({ databaseUrl: '', dataDir: backupDir });
  try {
    assert.equal(await copy.count('default'), 1000, 'the seeded demo users');
    assert.equal((await copy.get('notes', 'after-seed'))?.body.toString(), 'written while serving');
  } finally {
    await copy.close();
  }
});
