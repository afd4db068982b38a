// The write API over real HTTP, against every backend: auth, PUT/DELETE, bulk NDJSON with a bad line.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { EVENT_LOOP_SHEDDING_OFF } from '../../src/config.ts';
import { demoBody } from '../../src/content/demo.ts';
import { BACKENDS, PG_URL, startTestApp, type Backend, type TestApp } from '../support/app.ts';
import { failWritesOf } from '../support/raw-rows.ts';

const TOKEN = 'adm1n-t0ken';
const auth = { Authorization: `Bearer ${TOKEN}` };

interface BulkReport { imported: number; failed: number; errors: { line: number; message: string }[]; error?: { code: string; message: string } }
async function bulk(url: string, collection: string, body: string | Buffer | ReadableStream<Uint8Array>): Promise<{ status: number; report: BulkReport }> {
  const res = await fetch(`${url}/v1/content/${collection}/_bulk`, { method: 'POST', body, headers: auth, ...(body instanceof ReadableStream ? { duplex: 'half' } : {}) } as RequestInit);
  return { status: res.status, report: (await res.json()) as BulkReport };
}

describe('writes disabled without FLOODGATE_ADMIN_TOKEN', () => {
  it('answers 403 saying how to enable them, and changes nothing', async () => {
    await using app = await startTestApp();
    const res = await fetch(`${app.url}/v1/content/default/42`, { method: 'PUT', body: 'x', headers: auth });
    assert.equal(res.status, 403);
    const body = (await res.json()) as { error: { code: string; message: string } };
    assert.equal(body.error.code, 'FG_ERR_WRITES_DISABLED');
    assert.match(body.error.message, /FLOODGATE_ADMIN_TOKEN/);
    assert.equal(await (await fetch(`${app.url}/data?user_id=42`)).text(), demoBody(42));
  });
});

for (const backend of Object.keys(BACKENDS) as Backend[]) {
  describe(`write API (${backend})`, () => {
    let app: TestApp;
    before(async () => {
      app = await startTestApp({ backend, env: { FLOODGATE_ADMIN_TOKEN: TOKEN } });
    });
    after(() => app.close());

    it('rejects a missing or wrong token with 401 and leaves the data intact', async () => {
      for (const headers of [{}, { Authorization: 'Bearer wrong' }, { Authorization: TOKEN }]) {
        const res = await fetch(`${app.url}/v1/content/default/42`, { method: 'PUT', body: 'x', headers });
        assert.equal(res.status, 401);
        assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'FG_ERR_UNAUTHORIZED');
      }
      assert.equal(await (await fetch(`${app.url}/data?user_id=42`)).text(), demoBody(42));
    });

    it('PUT stores the body as-is with its Content-Type; the very next read sees it', async () => {
      await (await fetch(`${app.url}/data?user_id=43`)).text(); // cached before the write
      const put = await fetch(`${app.url}/v1/content/default/43`, { method: 'PUT', body: 'hello', headers: { ...auth, 'Content-Type': 'text/plain' } });
      assert.equal(put.status, 200);
      const ack = (await put.json()) as { version: number; key: string };
      assert.equal(ack.key, '43');
      assert.ok(ack.version > 0);
      const res = await fetch(`${app.url}/data?user_id=43`);
      assert.equal(await res.text(), 'hello');
      assert.equal(res.headers.get('content-type'), 'text/plain');
      const bytes = Buffer.from([0, 255, 1, 254, 0x80]);
      await fetch(`${app.url}/v1/content/recommendations/u%2F1`, { method: 'PUT', body: bytes, headers: { ...auth, 'Content-Type': 'application/octet-stream' } });
      const bin = await fetch(`${app.url}/v1/content/recommendations/u%2F1`);
      assert.deepEqual(Buffer.from(await bin.arrayBuffer()), bytes);
      const second = await fetch(`${app.url}/v1/content/default/43`, { method: 'PUT', body: '{"a":1}', headers: { ...auth, 'Content-Type': 'application/json' } });
      assert.ok(((await second.json()) as { version: number }).version > ack.version, 'versions increase');
      const json = await fetch(`${app.url}/data?user_id=43`);
      assert.deepEqual(await json.json(), { a: 1 });
    });

    it('DELETE removes; the next read is a 404; deleting again is a 404', async () => {
      const del = await fetch(`${app.url}/v1/content/default/44`, { method: 'DELETE', headers: auth });
      assert.equal(del.status, 200);
      assert.equal(((await del.json()) as { deleted: boolean }).deleted, true);
      assert.equal((await fetch(`${app.url}/data?user_id=44`)).status, 404);
      const again = await fetch(`${app.url}/v1/content/default/44`, { method: 'DELETE', headers: auth });
      assert.equal(again.status, 404);
    });

    it('a PUT over the body limit is a 413 and stores nothing', async () => {
      await using small = await startTestApp({ backend, env: { FLOODGATE_ADMIN_TOKEN: TOKEN, FLOODGATE_BODY_LIMIT: '1KiB' } });
      const res = await fetch(`${small.url}/v1/content/default/45`, { method: 'PUT', body: 'x'.repeat(2048), headers: auth });
      assert.equal(res.status, 413);
      assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'FG_ERR_BODY_TOO_LARGE');
      assert.equal(await (await fetch(`${small.url}/data?user_id=45`)).text(), demoBody(45));
    });

    it('bulk NDJSON imports every good line and reports the bad ones by line number', async () => {
      const lines = [
        JSON.stringify({ key: 'w1', body: 'sunny' }),
        '{not json',
        JSON.stringify({ key: 'w2', json: { temp: 21 } }),
        '',
        JSON.stringify({ body: 'no key' }),
        JSON.stringify({ key: 'w3', base64: Buffer.from('rain').toString('base64'), contentType: 'text/x-weather' }),
        JSON.stringify({ key: 'x'.repeat(300), body: 'too long a key' }),
      ];
      const res = await fetch(`${app.url}/v1/content/weather/_bulk`, { method: 'POST', body: lines.join('\n'), headers: { ...auth, 'Content-Type': 'application/x-ndjson' } });
      assert.equal(res.status, 200);
      const report = (await res.json()) as { imported: number; failed: number; errors: { line: number; message: string }[] };
      assert.equal(report.imported, 3);
      assert.equal(report.failed, 3);
      assert.deepEqual(report.errors.map((e) => e.line), [2, 5, 7]);
      assert.equal(await (await fetch(`${app.url}/v1/content/weather/w1`)).text(), 'sunny');
      assert.deepEqual(await (await fetch(`${app.url}/v1/content/weather/w2`)).json(), { temp: 21 });
      const w3 = await fetch(`${app.url}/v1/content/weather/w3`);
      assert.equal(await w3.text(), 'rain');
      assert.equal(w3.headers.get('content-type'), 'text/x-weather');
    });

    it('bulk refuses a contentType that is not a media type by its line, and imports the rest of that batch', async () => {
      const lines = [
        JSON.stringify({ key: 'ct0', body: 'kept', contentType: 'text/plain; charset="utf-8"' }),
        JSON.stringify({ key: 'ct1', body: 'x', contentType: 'text/plain\u0001' }),
        JSON.stringify({ key: 'ct2', body: 'x', contentType: 'application/json; charset=\u201cutf-8\u201d' }),
        JSON.stringify({ key: 'ct3', body: 'x', contentType: 'text/plain\u0000' }),
        JSON.stringify({ key: 'ct4', body: 'x', contentType: 'price/\u20ac' }),
        JSON.stringify({ key: 'ct5', body: 'x', contentType: 'nonsense' }),
        JSON.stringify({ key: 'nul', body: 'a\u0000b' }), // a NUL in a body is bytes like any other, on PostgreSQL too
      ];
      const { status, report } = await bulk(app.url, 'poison', lines.join('\n'));
      assert.equal(status, 200);
      assert.equal(report.imported, 2);
      assert.deepEqual(report.errors.map((e) => e.line), [2, 3, 4, 5, 6]);
      for (const e of report.errors) assert.match(e.message, /"contentType" is not a valid media type/);
      for (const key of ['ct1', 'ct2', 'ct3', 'ct4', 'ct5']) assert.equal((await fetch(`${app.url}/v1/content/poison/${key}`)).status, 404, key);
      const kept = await fetch(`${app.url}/v1/content/poison/ct0`);
      assert.equal(kept.headers.get('content-type'), 'text/plain; charset="utf-8"');
      assert.equal(await kept.text(), 'kept');
      assert.deepEqual(Buffer.from(await (await fetch(`${app.url}/v1/content/poison/nul`)).arrayBuffer()), Buffer.from('a\u0000b'));
      assert.equal((await fetch(`${app.url}/healthz`)).status, 200);
    });

    it('PUT refuses a Content-Type that is not a media type with 400 FG_ERR_INVALID_CONTENT_TYPE and stores nothing', async () => {
      for (const contentType of ['nonsense', 'text/plain; charset="utf-8', 'text/plain; a=b c']) {
        const res = await fetch(`${app.url}/v1/content/poison/put1`, { method: 'PUT', body: 'x', headers: { ...auth, 'Content-Type': contentType } });
        assert.equal(res.status, 400, contentType);
        assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'FG_ERR_INVALID_CONTENT_TYPE');
      }
      assert.equal((await fetch(`${app.url}/v1/content/poison/put1`)).status, 404);
    });

    it('bulk refuses a number key that is not a safe integer by its line; a safe one is its digits', async () => {
      const lines = ['{"key":12345678901234567890,"body":"big"}', '{"key":12345678901234567000,"body":"other"}', '{"key":9007199254740991,"body":"max"}', '{"key":1.5,"body":"half"}', '{"key":42,"body":"answer"}'];
      const { status, report } = await bulk(app.url, 'numbers', lines.join('\n'));
      assert.equal(status, 200);
      assert.deepEqual(report.errors.map((e) => e.line), [1, 2, 4]);
      assert.match(report.errors[0]?.message ?? '', /write the key as a string/);
      assert.equal(report.imported, 2);
      assert.equal(await (await fetch(`${app.url}/v1/content/numbers/9007199254740991`)).text(), 'max');
      assert.equal(await (await fetch(`${app.url}/v1/content/numbers/42`)).text(), 'answer');
      assert.equal((await fetch(`${app.url}/v1/content/numbers/12345678901234567000`)).status, 404);
    });

    it('bulk refuses a line that is not valid UTF-8 by its line number instead of storing U+FFFD', async () => {
      const body = Buffer.concat([
        Buffer.from('{"key":"u1","body":"caf\u00e9 ok"}\n{"key":"u2","body":"caf'),
        Buffer.from([0xe9, 0xff]),
        Buffer.from('"}\n{"key":"u3","body":"fine"}\n'),
      ]);
      const { status, report } = await bulk(app.url, 'utf8', body);
      assert.equal(status, 200);
      assert.deepEqual(report.errors, [{ line: 2, message: 'the line is not valid UTF-8' }]);
      assert.equal(report.imported, 2);
      assert.equal((await fetch(`${app.url}/v1/content/utf8/u2`)).status, 404);
      assert.equal(await (await fetch(`${app.url}/v1/content/utf8/u1`)).text(), 'café ok');
    });

    it('a bulk whose store write fails part-way answers the error with what it committed', async () => {
      await failWritesOf(backend === 'embedded' ? { dataDir: app.dataDir } : { url: PG_URL, schema: app.schema }, 'boom');
      const lines = Array.from({ length: 7000 }, (_, i) => JSON.stringify({ key: i === 6000 ? 'boom' : `p${i}`, body: `v${i}` }));
      lines.splice(10, 0, '{bad');
      const { status, report } = await bulk(app.url, 'partial', lines.join('\n'));
      assert.equal(status, 500);
      assert.equal(report.error?.code, 'FG_ERR_INTERNAL');
      assert.equal(report.imported, 5000, 'the first batch committed, and says so');
      assert.equal(report.failed, 1);
      assert.deepEqual(report.errors.map((e) => e.line), [11]);
      assert.match(report.error?.message ?? '', /5000 records were committed/);
      assert.equal(await (await fetch(`${app.url}/v1/content/partial/p0`)).text(), 'v0');
      assert.equal((await fetch(`${app.url}/v1/content/partial/p5999`)).status, 404, 'the failed batch left nothing');
    });

    it('a streamed bulk body over the limit part-way answers 413 with what it committed', async () => {
      await using small = await startTestApp({ backend, env: { FLOODGATE_ADMIN_TOKEN: TOKEN, FLOODGATE_BULK_LIMIT: '600KiB' }, args: [...EVENT_LOOP_SHEDDING_OFF] });
      const lines = Array.from({ length: 20_000 }, (_, i) => `${JSON.stringify({ key: `s${String(i).padStart(5, '0')}`, body: 'v'.repeat(20) })}\n`);
      const chunks = Array.from({ length: 200 }, (_, i) => Buffer.from(lines.slice(i * 100, (i + 1) * 100).join('')));
      const stream = new ReadableStream<Uint8Array>({
        pull(controller) {
          const next = chunks.shift();
          if (next) controller.enqueue(next);
          else controller.close();
        },
      });
      const { status, report } = await bulk(small.url, 'limited', stream);
      assert.equal(status, 413);
      assert.equal(report.error?.code, 'FG_ERR_BODY_TOO_LARGE', JSON.stringify(report));
      // 47-byte lines: the limit falls within the third batch; which chunk crosses it is the network's choice.
      assert.ok(report.imported === 5000 || report.imported === 10_000, JSON.stringify(report));
      const last = `s${String(report.imported - 1).padStart(5, '0')}`;
      assert.equal(await (await fetch(`${small.url}/v1/content/limited/${last}`)).text(), 'v'.repeat(20), 'what it says was committed was');
      assert.equal((await fetch(`${small.url}/v1/content/limited/s${String(report.imported).padStart(5, '0')}`)).status, 404, 'and no more');
    });

    it('a bulk body with no good line is a 400 and imports nothing', async () => {
      const res = await fetch(`${app.url}/v1/content/weather/_bulk`, { method: 'POST', body: '[1,2]\n"x"', headers: auth });
      assert.equal(res.status, 400);
      const report = (await res.json()) as { error: { code: string }; failed: number };
      assert.equal(report.error.code, 'FG_ERR_BAD_REQUEST');
      assert.equal(report.failed, 2);
    });
  });
}
