// Hostile input through `floodgate import` (issue 14): generated NDJSON and CSV files, good and bad lines.
// In process, the importer (src/content/importer.ts) writes into a real SQLite store, with small batches so
// that batch boundaries are crossed; then a few files go through the real CLI as a child process, which must
// exit 0 or 1 with its report (never a crash), and leave the store as the format says.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { importFile } from '../../src/content/importer.ts';
import { openStore } from '../../src/store/open.ts';
import type { Store } from '../../src/store/store.ts';
import { csvFile, judge, ndjsonLine, type Line } from './lines.ts';
import { check } from './property.ts';

const ndjsonFile = fc.array(ndjsonLine(true), { minLength: 1, maxLength: 14 }).map((lines) => ({ lines, bytes: Buffer.concat(lines.flatMap((l) => [l.bytes, Buffer.from('\n')])) }));

/**
 * CSV rows span lines when a quoted cell holds a line break: the row (1-based, header not counted) that spans
 * `line`. Lines are counted as csv-parse counts them, which the importer reports: every CR and every LF inside
 * a quoted cell is a line of its own (so a CRLF there counts two; an editor would say one).
 */
function rowOf(rows: readonly Line[], line: number): number | undefined {
  let at = 2; // the header is line 1
  for (let i = 0; i < rows.length; i++) {
    const extra = (rows[i] as Line).bytes.toString('latin1').match(/[\r\n]/g)?.length ?? 0;
    if (line >= at && line <= at + extra) return i + 1;
    at += extra + 1;
  }
  return undefined;
}

describe('hostile input: floodgate import', () => {
  let dir: string;
  let store: Store;
  let n = 0;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'fg-hostile-import-'));
    store = await openStore({ databaseUrl: '', dataDir: join(dir, 'store') });
  });
  after(async () => {
    await store?.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const read = async (c: string, k: string) => store.get(c, k);

  it('NDJSON: imports the good lines, refuses the bad ones by line number; what it imported reads back byte for byte', async (t) => {
    await check(t, fc.asyncProperty(ndjsonFile, fc.integer({ min: 1, max: 6 }), async ({ lines, bytes }, batchSize) => {
      const file = join(dir, `f${n}.ndjson`);
      const collection = `imp${n++}`;
      writeFileSync(file, bytes);
      const refused: number[] = [];
      const result = await importFile({ file, format: 'ndjson', collection, batchSize, write: (b) => store.putMany(b).then(() => undefined), onBadLine: (line) => refused.push(line) });
      await judge(lines, { imported: result.imported, failed: result.failed, refused }, collection, read);
    }), 0.5);
  });

  it('CSV: imports the good rows, refuses the bad ones by line; what it imported reads back byte for byte', async (t) => {
    await check(t, fc.asyncProperty(csvFile, fc.integer({ min: 1, max: 6 }), async ({ bytes, rows }, batchSize) => {
      const file = join(dir, `f${n}.csv`);
      const collection = `csv${n++}`;
      writeFileSync(file, bytes);
      const lines: number[] = [];
      const result = await importFile({ file, format: 'csv', collection, batchSize, write: (b) => store.putMany(b).then(() => undefined), onBadLine: (line) => lines.push(line) });
      const refused = lines.map((l) => {
        const row = rowOf(rows, l);
        assert.ok(row !== undefined, `line ${l} reported, which is no row's`);
        return row;
      });
      await judge(rows, { imported: result.imported, failed: result.failed, refused }, collection, read);
    }), 0.5);
  });

  it('the CLI exits 0 or 1 with its report, never a crash, and stores what the format says', async (t) => {
    const kind = fc.constantFrom('ndjson', 'csv');
    await check(t, fc.asyncProperty(kind, ndjsonFile, csvFile, async (format, nd, csv) => {
      const file = join(dir, `cli${n}.${format}`);
      const dataDir = join(dir, `cli${n++}`);
      writeFileSync(file, format === 'ndjson' ? nd.bytes : csv.bytes);
      const r = spawnSync(process.execPath, ['--disable-warning=ExperimentalWarning', 'bin/floodgate.js', 'import', file, '--data-dir', dataDir, '--collection', 'cli', '--batch', '3'], { encoding: 'utf8', env: { ...process.env, DATABASE_URL: '' }, timeout: 30_000 });
      assert.ok(r.status === 0 || r.status === 1, `exit ${r.status} ${r.signal}:\n${r.stderr}`);
      assert.doesNotMatch(r.stderr, /^\s+at /m, `a stack trace:\n${r.stderr}`);
      const m = /imported (\d+) records? .*; (\d+) bad lines? skipped/.exec(r.stdout);
      assert.ok(m, `no report:\n${r.stdout}\n${r.stderr}`);
      const lines = [...r.stderr.matchAll(/:(\d+): /g)].map((x) => Number(x[1]));
      const items = format === 'ndjson' ? nd.lines : csv.rows;
      const refused = format === 'ndjson' ? lines : lines.map((l) => rowOf(csv.rows, l) ?? -1);
      const cliStore = await openStore({ databaseUrl: '', dataDir });
      try {
        await judge(items, { imported: Number(m[1]), failed: Number(m[2]), refused }, 'cli', (c, k) => cliStore.get(c, k));
      } finally {
        await cliStore.close();
      }
    }), 0.01, { shrink: false });
  });
});
