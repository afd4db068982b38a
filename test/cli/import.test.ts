// floodgate import as a user runs it: a real process, real files, the embedded store and PostgreSQL.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { openStore } from '../../src/store/open.ts';
import { PG_URL } from '../support/app.ts';
import { failWritesOf } from '../support/raw-rows.ts';

const cli = (args: string[], env: Record<string, string | undefined> = {}) =>
  spawnSync(process.execPath, ['--disable-warning=ExperimentalWarning', 'bin/floodgate.js', 'import', ...args], { encoding: 'utf8', env: { ...process.env, DATABASE_URL: '', ...env } });

describe('floodgate import', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'fg-import-'));
    const lines: string[] = [];
    for (let i = 1; i <= 12_000; i++) lines.push(JSON.stringify({ key: `u${i}`, body: `content ${i}` }));
    lines.splice(100, 0, '{"key": "broken"'); // line 101
    lines.splice(7000, 0, JSON.stringify({ key: '', body: 'empty key' })); // line 7001
    lines.push(JSON.stringify({ key: 'j', json: { a: [1, 2] }, collection: 'other' }));
    writeFileSync(join(dir, 'data.ndjson'), lines.join('\n') + '\n');
    writeFileSync(join(dir, 'data.csv'), 'key,body,contentType\nc1,"hello, world",text/plain\nc2,"multi\nline",\n,no key,\nc3,plain,\n');
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('a CSV header without a key column is one error for the file, not one per row (exit 2, nothing imported)', () => {
    writeFileSync(join(dir, 'nokey.csv'), 'id,body\n1,a\n2,b\n3,c\n');
    const r = cli([join(dir, 'nokey.csv'), '--data-dir', join(dir, 'd-nokey')]);
    assert.equal(r.status, 2, r.stderr);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, /nokey\.csv: line 1: the header row names "id", "body": it needs a "key" column/);
    assert.match(r.stderr, /nothing was imported/);
    writeFileSync(join(dir, 'nobody.csv'), 'key,text\n1,a\n');
    const r2 = cli([join(dir, 'nobody.csv'), '--data-dir', join(dir, 'd-nokey')]);
    assert.equal(r2.status, 2);
    assert.match(r2.stderr, /it needs one of body, json, base64 beside "key"/);
  });

  it('reads standard input for the file "-", and says "1 bad line" in the singular', async () => {
    const dataDir = join(dir, 'd-stdin');
    const input = [JSON.stringify({ key: 's1', body: 'from stdin' }), '{"broken', JSON.stringify({ key: 's2', body: 'two' })].join('\n') + '\n';
    const r = spawnSync(process.execPath, ['--disable-warning=ExperimentalWarning', 'bin/floodgate.js', 'import', '-', '--data-dir', dataDir, '--collection', 'piped'], { encoding: 'utf8', input, env: { ...process.env, DATABASE_URL: '' } });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /-:2: not valid JSON/);
    assert.match(r.stdout, /imported 2 records .*; 1 bad line skipped/);
    const store = await openStore({ databaseUrl: '', dataDir });
    try {
      assert.equal((await store.get('piped', 's1'))?.body.toString(), 'from stdin');
    } finally {
      await store.close();
    }
    const one = spawnSync(process.execPath, ['--disable-warning=ExperimentalWarning', 'bin/floodgate.js', 'import', '-', '--data-dir', dataDir], { encoding: 'utf8', input: JSON.stringify({ key: 'x', body: 'y' }) + '\n', env: { ...process.env, DATABASE_URL: '' } });
    assert.match(one.stdout, /imported 1 record into .*; 0 bad lines skipped/);
  });

  for (const backend of ['sqlite', 'postgres'] as const) {
    it(`imports NDJSON into ${backend}, reporting bad lines by number and importing the rest`, async () => {
      const schema = `fg_imp_${process.pid}_${backend}`;
      const env = backend === 'postgres' ? { DATABASE_URL: PG_URL, FLOODGATE_DB_SCHEMA: schema } : {};
      const dataDir = join(dir, `d-${backend}`);
      const r = cli([join(dir, 'data.ndjson'), '--data-dir', dataDir, '--collection', 'recs'], env);
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stderr, /data\.ndjson:101: not valid JSON/);
      assert.match(r.stderr, /data\.ndjson:7001: the key is empty/);
      assert.match(r.stdout, /imported 12001 records .* 2 bad lines skipped/);
      const store = await openStore({ databaseUrl: env.DATABASE_URL ?? '', dataDir, schema });
      try {
        assert.equal(await store.count('recs'), 12_000);
        assert.equal((await store.get('recs', 'u11999'))?.body.toString(), 'content 11999');
        const j = await store.get('other', 'j');
        assert.equal(j?.contentType, 'application/json');
        assert.deepEqual(JSON.parse(j?.body.toString() ?? ''), { a: [1, 2] });
      } finally {
        if (backend === 'postgres') {
          const postgres = (await import('postgres')).default;
          const sql = postgres(PG_URL, { max: 1, onnotice: () => undefined });
          await sql.unsafe(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
          await sql.end();
        }
        await store.close();
      }
    });
  }

  it('refuses, by line, a content type that is not a media type, a number key past 2^53 and invalid UTF-8 (NDJSON and CSV)', async () => {
    const ndjson = Buffer.concat([
      Buffer.from(`${JSON.stringify({ key: 'n1', body: 'ok' })}\n`),
      Buffer.from(`${JSON.stringify({ key: 'n2', body: 'x', contentType: 'text/plain\u0001' })}\n`),
      Buffer.from('{"key":12345678901234567890,"body":"big"}\n'),
      Buffer.from('{"key":"n4","body":"caf'), Buffer.from([0xe9]), Buffer.from('"}\n'),
      Buffer.from(`${JSON.stringify({ key: 'n5', body: 'ok' })}\n`),
    ]);
    writeFileSync(join(dir, 'poison.ndjson'), ndjson);
    const csv = Buffer.concat([
      Buffer.from('key,body,contentType\nk1,ok,text/plain\nk2,x,application/json; charset=\u201cutf-8\u201d\nk3,caf'),
      Buffer.from([0xe9]),
      Buffer.from(',text/plain\nk4,ok,\n'),
    ]);
    writeFileSync(join(dir, 'poison.csv'), csv);
    const dataDir = join(dir, 'd-poison');
    const n = cli([join(dir, 'poison.ndjson'), '--data-dir', dataDir]);
    assert.equal(n.status, 0, n.stderr);
    assert.match(n.stderr, /poison\.ndjson:2: "contentType" is not a valid media type: .*control character/);
    assert.match(n.stderr, /poison\.ndjson:3: "key" is a number that is not a whole number/);
    assert.match(n.stderr, /poison\.ndjson:4: the line is not valid UTF-8/);
    assert.match(n.stdout, /imported 2 records .* 3 bad lines skipped/);
    const c = cli([join(dir, 'poison.csv'), '--data-dir', dataDir]);
    assert.equal(c.status, 0, c.stderr);
    assert.match(c.stderr, /poison\.csv:3: "contentType" is not a valid media type: .*U\+201C/);
    assert.match(c.stderr, /poison\.csv:4: the row is not valid UTF-8/);
    assert.match(c.stdout, /imported 2 records .* 2 bad lines skipped/);
    const store = await openStore({ databaseUrl: '', dataDir });
    try {
      assert.deepEqual((await Promise.all(['n1', 'n2', 'n4', 'n5', 'k1', 'k2', 'k3', 'k4'].map((k) => store.get('default', k)))).map((r) => r !== undefined), [true, false, false, true, true, false, false, true]);
    } finally {
      await store.close();
    }
  });

  it('says how many records were committed when a write fails part-way, and exits 1', async () => {
    const dataDir = join(dir, 'd-fail');
    const first = cli([join(dir, 'data.csv'), '--data-dir', dataDir]); // creates the store
    assert.equal(first.status, 0, first.stderr);
    await failWritesOf({ dataDir }, 'u2500');
    const r = cli([join(dir, 'data.ndjson'), '--data-dir', dataDir, '--batch', '1000']);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /stopped by an error after committing 2000 records \(1 bad line skipped\); the records before it stay imported: .*refused by the test trigger/);
    const store = await openStore({ databaseUrl: '', dataDir });
    try {
      assert.equal(await store.count('default'), 2000 + 3, 'the two batches it said, and the CSV rows from before');
    } finally {
      await store.close();
    }
  });

  it('imports CSV with quoted fields and reports a row without a key', async () => {
    const dataDir = join(dir, 'd-csv');
    const r = cli([join(dir, 'data.csv'), '--data-dir', dataDir]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /data\.csv:\d+: "key" is required/);
    const store = await openStore({ databaseUrl: '', dataDir });
    try {
      assert.equal((await store.get('default', 'c1'))?.body.toString(), 'hello, world');
      assert.equal((await store.get('default', 'c2'))?.body.toString(), 'multi\nline');
      assert.equal((await store.get('default', 'c3'))?.body.toString(), 'plain');
    } finally {
      await store.close();
    }
  });

  it('refuses records for the read-only collections of the collections file: --collection naming one is an error, a line naming one a bad line', async () => {
    const collections = join(dir, 'collections.json');
    writeFileSync(collections, JSON.stringify({ collections: {
      recommendations: { ttl: '5m', query: 'SELECT payload FROM recommendations WHERE user_id = ?' },
      recs: { origin: 'http://127.0.0.1:9/users/{key}', ttl: '5m' },
      offers: { ttl: '1m' },
    } }));
    const dataDir = join(dir, 'd-readonly');
    writeFileSync(join(dir, 'ro.ndjson'), [
      JSON.stringify({ key: 'a', body: 'x' }),
      JSON.stringify({ key: 'b', body: 'x', collection: 'recommendations' }),
      JSON.stringify({ key: 'c', body: 'x', collection: 'recs' }),
      JSON.stringify({ key: 'd', body: 'x', collection: 'free' }),
    ].join('\n') + '\n');
    const whole = cli([join(dir, 'ro.ndjson'), '--data-dir', dataDir, '--collections', collections, '--collection', 'recommendations']);
    assert.equal(whole.status, 2, whole.stderr);
    assert.deepEqual(whole.stderr.trim().split('\n'), ['floodgate import: --collection: collection recommendations is read-only (served from its SQL query in the collections file): what is imported into it would never be served; nothing was imported']);
    // The environment names the file as well as the flag does.
    const byEnv = cli([join(dir, 'ro.ndjson'), '--data-dir', dataDir, '--collection', 'recs'], { FLOODGATE_COLLECTIONS: collections });
    assert.equal(byEnv.status, 2, byEnv.stderr);
    assert.match(byEnv.stderr, /collection recs is read-only \(served from its origin/);
    const lines = cli([join(dir, 'ro.ndjson'), '--data-dir', dataDir, '--collections', collections, '--collection', 'offers']);
    assert.equal(lines.status, 0, lines.stderr);
    assert.match(lines.stderr, /ro\.ndjson:2: collection recommendations is read-only/);
    assert.match(lines.stderr, /ro\.ndjson:3: collection recs is read-only/);
    assert.match(lines.stdout, /imported 2 records .*; 2 bad lines skipped/);
    writeFileSync(join(dir, 'ro.csv'), 'key,body,collection\ne,x,recommendations\nf,x,\n');
    const csv = cli([join(dir, 'ro.csv'), '--data-dir', dataDir, '--collections', collections]);
    assert.equal(csv.status, 0, csv.stderr);
    assert.match(csv.stderr, /ro\.csv:2: collection recommendations is read-only/);
    const store = await openStore({ databaseUrl: '', dataDir });
    try {
      assert.equal(await store.count(), 3, 'a and d, then f');
      assert.equal(await store.hasAny('recommendations'), false);
      assert.equal(await store.hasAny('recs'), false);
      assert.equal((await store.get('offers', 'a'))?.body.toString(), 'x');
      assert.equal((await store.get('free', 'd'))?.body.toString(), 'x');
      assert.equal((await store.get('default', 'f'))?.body.toString(), 'x');
    } finally {
      await store.close();
    }
  });

  it('fails clearly on a missing file or a bad option', () => {
    const missing = cli([join(dir, 'nope.ndjson'), '--data-dir', join(dir, 'x')]);
    assert.equal(missing.status, 1);
    assert.match(missing.stderr, /cannot read .*nope\.ndjson/);
    const bad = cli([join(dir, 'data.ndjson'), '--bogus']);
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /unknown option --bogus/);
    const none = cli([]);
    assert.equal(none.status, 2);
  });
});
