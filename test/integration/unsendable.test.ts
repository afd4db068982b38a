// A stored record that cannot be sent (a Content-Type no validator saw: a row written with plain SQL) must cost
// one 500 per read of that key, never a worker: before, writeHead's throw landed in the miss path's promise
// without a catch, the worker died, and each replacement died in its warm-up reading the newest records, so a
// fresh `serve` exited 1. Real processes, two workers, on SQLite and on PostgreSQL: the reproduction
// is refused at import; rows put in with plain SQL answer 500 JSON; /healthz answers throughout; no worker
// dies, and a fresh server starts on that store.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { insertPgRows, insertSqliteRows, type RawRow } from '../support/raw-rows.ts';
import { metric, serve, type Served } from '../support/serve.ts';
import { ADMIN_TOKEN, PG_URL, pgArgs, pgSchema, SERVER_ENV } from './helpers.ts';

const BAD: RawRow[] = [
  { collection: 'poison', key: 'ct1', body: 'x', contentType: 'text/plain\u0001' },
  { collection: 'poison', key: 'ct2', body: 'x', contentType: 'application/json; charset=\u201cutf-8\u201d' },
];
const GOOD: RawRow = { collection: 'poison', key: 'ok', body: 'fine', contentType: 'text/plain' };

async function healthy(srv: Served): Promise<void> {
  const res = await fetch(`${srv.url}/healthz`);
  assert.equal(res.status, 200);
  await res.arrayBuffer();
}

/** Reads each bad key `rounds` times (misses, then hits, over both workers); every answer a 500 JSON. Returns how many. */
async function readBad(srv: Served, rounds: number): Promise<number> {
  let n = 0;
  for (let i = 0; i < rounds; i++) {
    for (const row of BAD) {
      const res = await fetch(`${srv.url}/v1/content/${row.collection}/${row.key}`, { signal: AbortSignal.timeout(10_000) });
      assert.equal(res.status, 500, row.key);
      assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
      const body = (await res.json()) as { error: { code: string; message: string } };
      assert.equal(body.error.code, 'FG_ERR_INTERNAL');
      assert.match(body.error.message, /cannot be sent/);
      n++;
      await healthy(srv);
    }
  }
  return n;
}

for (const backend of ['sqlite', 'postgres'] as const) {
  describe(`a record that cannot be sent (${backend}, 2 workers)`, () => {
    it('is refused at import, answers 500 JSON when written with plain SQL, and no worker dies, at start either', async () => {
      const dataDir = mkdtempSync(join(tmpdir(), 'fg-unsendable-'));
      await using schema = pgSchema();
      // SQLite has no change feed: a row written with plain SQL is not announced, and each worker would answer its
      // remembered 404 for --negative-ttl. The test polls one connection (one worker), so none is remembered.
      const storeArgs = backend === 'sqlite' ? ['--data-dir', dataDir, '--negative-ttl', '0'] : pgArgs(schema.name);
      const args = ['--workers', '2', ...storeArgs];
      const logs: string[] = [];
      try {
        {
          await using srv = await serve({ args, env: SERVER_ENV });
          // The reproduction: refused by its line, nothing stored.
          const bulk = await fetch(`${srv.url}/v1/content/poison/_bulk`, {
            method: 'POST',
            headers: { Authorization: `Bearer ${ADMIN_TOKEN}` },
            body: `${JSON.stringify({ key: 'ct1', body: 'x', contentType: 'text/plain\u0001' })}\n`,
          });
          assert.equal(bulk.status, 400);
          const report = (await bulk.json()) as { errors: { line: number; message: string }[] };
          assert.equal(report.errors[0]?.line, 1);
          assert.match(report.errors[0]?.message ?? '', /not a valid media type/);
          assert.equal((await fetch(`${srv.url}/v1/content/poison/ct1`)).status, 404);

          // What no validator saw: plain SQL.
          if (backend === 'sqlite') insertSqliteRows(dataDir, [...BAD, GOOD]);
          else await insertPgRows(PG_URL, schema.name, [...BAD, GOOD]);
          // On PostgreSQL the change feed drops the cached 404s; on SQLite none is kept (--negative-ttl 0).
          const deadline = Date.now() + 10_000;
          while ((await fetch(`${srv.url}/v1/content/poison/ct1`, { signal: AbortSignal.timeout(10_000) })).status === 404 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
          const answered = await readBad(srv, 8);
          const ok = await fetch(`${srv.url}/v1/content/poison/ok`);
          assert.equal(ok.status, 200);
          assert.equal(await ok.text(), 'fine');
          assert.ok((await metric(srv.url, 'floodgate_unsendable_records_total')) >= answered, 'each one counted');
          assert.equal(await metric(srv.url, 'floodgate_unhandled_rejections_total'), 0);
          logs.push(srv.stdout(), srv.stderr());
        }
        {
          // A fresh server on that store: its workers' warm-up reads those records first (the newest).
          await using again = await serve({ args, env: SERVER_ENV });
          await readBad(again, 2);
          logs.push(again.stdout(), again.stderr());
        }
        const log = logs.join('');
        assert.doesNotMatch(log, /worker died/);
        assert.match(log, /a stored record cannot be sent/, 'logged');
        assert.match(log, /"key":"ct1"/, 'with its key');
      } finally {
        rmSync(dataDir, { recursive: true, force: true });
      }
    });
  });
}
