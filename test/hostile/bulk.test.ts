// Hostile input through POST /v1/content/:collection/_bulk (issue 14), in process, on SQLite and on
// PostgreSQL + Redis: generated NDJSON lines, good and bad, must be imported or refused by line number as the
// format says, and every imported record must read back over HTTP byte for byte with its Content-Type. Any
// bytes at all as a bulk body get a documented answer.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { startTestApp, type Backend, type TestApp } from '../support/app.ts';
import { encodePart } from './inputs.ts';
import { judge, ndjsonLine } from './lines.ts';
import { assertError, check, keepAlive, send } from './property.ts';

const TOKEN = 'hostile-bulk-token';
const auth = { Authorization: `Bearer ${TOKEN}` };
const SHARE: Record<Backend, number> = { embedded: 1, 'postgres+redis': 0.25 };

for (const backend of ['embedded', 'postgres+redis'] as const) {
  describe(`hostile input: _bulk (${backend})`, () => {
    let app: TestApp;
    const agent = keepAlive();
    let n = 0;
    before(async () => {
      app = await startTestApp({ backend, env: { FLOODGATE_ADMIN_TOKEN: TOKEN } });
    });
    after(async () => {
      agent.destroy();
      await app?.close();
    });

    it('imports the good lines, refuses the bad ones by line number, and what it imported reads back byte for byte', async (t) => {
      await check(t, fc.asyncProperty(fc.array(ndjsonLine(false), { minLength: 1, maxLength: 14 }), fc.boolean(), async (lines, trailingNewline) => {
        const collection = `bulk${n++}`;
        const body = Buffer.concat(lines.flatMap((l, i) => (i > 0 ? [Buffer.from('\n'), l.bytes] : [l.bytes])).concat(trailingNewline ? [Buffer.from('\n')] : []));
        const res = await send(app.url, agent, { method: 'POST', path: `/v1/content/${collection}/_bulk`, headers: { ...auth, 'Content-Type': 'application/x-ndjson' }, body });
        const report = JSON.parse(res.body.toString()) as { imported: number; failed: number; errors: { line: number; message: string }[] };
        const anyImported = report.imported > 0;
        if (res.status === 400) assertError(res, ['FG_ERR_BAD_REQUEST']);
        else assert.equal(res.status, 200, `${res.status} ${res.body.toString().slice(0, 500)}`);
        assert.equal(res.status === 400, !anyImported && report.failed > 0, `status ${res.status} with ${report.imported} imported, ${report.failed} failed`);
        for (const e of report.errors) assert.equal(typeof e.message, 'string');
        await judge(lines, { imported: report.imported, failed: report.failed, refused: report.errors.map((e) => e.line) }, collection, async (c, k) => {
          const got = await send(app.url, agent, { method: 'GET', path: `/v1/content/${c}/${encodePart(k)}` });
          if (got.status === 404) return undefined;
          assert.equal(got.status, 200, `GET ${c}/${JSON.stringify(k)}: ${got.status} ${got.body.toString().slice(0, 300)}`);
          return { body: got.body, contentType: String(got.headers['content-type']) };
        });
      }), SHARE[backend]);
      const healthz = await send(app.url, agent, { method: 'GET', path: '/healthz' });
      assert.equal(healthz.status, 200);
    });

    it('any bytes as a bulk body get 200 or a documented 400, never an internal error', async (t) => {
      const bytes = fc.oneof(fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b)), fc.string({ unit: 'binary', maxLength: 200 }).map((s) => Buffer.from(s)), fc.constantFrom(Buffer.alloc(0), Buffer.from('\n\n\n'), Buffer.from('\r\n'), Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('\u0000')));
      await check(t, fc.asyncProperty(bytes, async (body) => {
        const res = await send(app.url, agent, { method: 'POST', path: `/v1/content/junk${n++}/_bulk`, headers: auth, body });
        if (res.status !== 200) assertError(res, ['FG_ERR_BAD_REQUEST']);
      }), SHARE[backend] / 2);
    });
  });
}
