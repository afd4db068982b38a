// The write API over real HTTP, against every backend: auth, PUT/DELETE, bulk NDJSON with a bad line.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { demoBody } from '../../src/content/demo.ts';
import { BACKENDS, startTestApp, type Backend, type TestApp } from '../support/app.ts';

const TOKEN = 'adm1n-t0ken';
const auth = { Authorization: `Bearer ${TOKEN}` };

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

    it('a bulk body with no good line is a 400 and imports nothing', async () => {
      const res = await fetch(`${app.url}/v1/content/weather/_bulk`, { method: 'POST', body: '[1,2]\n"x"', headers: auth });
      assert.equal(res.status, 400);
      const report = (await res.json()) as { error: { code: string }; failed: number };
      assert.equal(report.error.code, 'FG_ERR_BAD_REQUEST');
      assert.equal(report.failed, 2);
    });
  });
}
