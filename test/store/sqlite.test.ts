// The SQLite store: the contract, plus what only the embedded file does (files created, several processes).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, describe, it } from 'node:test';
import { openSqliteStore } from '../../src/store/sqlite.ts';
import { storeCloseContract, storeContract } from './contract.ts';

const dir = mkdtempSync(join(tmpdir(), 'fg-sqlite-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const file = (): string => join(dir, `db${++n}`, 'nested', 'floodgate.db');

storeContract('sqlite', () => openSqliteStore({ file: file() }));
storeCloseContract('sqlite', () => openSqliteStore({ file: file() }));

describe('SQLite store', () => {
  it('creates the parent directory and the file', async () => {
    const f = file();
    assert.equal(existsSync(f), false);
    const store = await openSqliteStore({ file: f });
    try {
      assert.equal(existsSync(f), true);
      assert.equal(store.kind, 'sqlite');
      assert.equal(store.watch, undefined, 'no change feed: cross-process invalidation is the server bus');
    } finally {
      await store.close();
    }
  });

  it('two stores on one file share data and never reuse a version', async () => {
    const f = file();
    const a = await openSqliteStore({ file: f });
    const b = await openSqliteStore({ file: f });
    try {
      const body = Buffer.from('x');
      const va = await a.put({ collection: 'c', key: '1', body, contentType: 'text/plain' });
      const vb = await b.put({ collection: 'c', key: '2', body, contentType: 'text/plain' });
      assert.ok(vb.version > va.version);
      const del = await a.delete('c', '2');
      const vb2 = await b.put({ collection: 'c', key: '3', body, contentType: 'text/plain' });
      assert.ok(del && vb2.version > del.version);
      assert.equal((await b.get('c', '1'))?.version, va.version);
      assert.equal(await a.maxVersion(), vb2.version);
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('several processes writing one file at once never hand out the same version twice', async () => {
    const f = file();
    await (await openSqliteStore({ file: f })).close(); // create the file before the writers race
    const writer = new URL('./fixtures/sqlite-writer.ts', import.meta.url).pathname;
    const run = (c: string) => promisify(execFile)(process.execPath, ['--disable-warning=ExperimentalWarning', writer, f, c, '20']);
    const outs = await Promise.all([run('p1'), run('p2'), run('p3')]);
    const versions = outs.flatMap((o) => JSON.parse(o.stdout) as number[]);
    assert.equal(versions.length, 3 * 20 * 51);
    assert.equal(new Set(versions).size, versions.length, 'no version handed out twice');
    const store = await openSqliteStore({ file: f });
    try {
      assert.equal(await store.count(), 3 * 20 * 49);
      assert.equal(await store.maxVersion(), Math.max(...versions));
    } finally {
      await store.close();
    }
  });
});
