// The read API over real HTTP, against every backend: status codes, bodies, headers, 304, HEAD, auth.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { demoBody } from '../../src/content/demo.ts';
import { BACKENDS, startTestApp, type Backend, type TestApp } from '../support/app.ts';

for (const backend of Object.keys(BACKENDS) as Backend[]) {
  describe(`read API (${backend})`, () => {
    let app: TestApp;
    before(async () => {
      app = await startTestApp({ backend });
    });
    after(() => app.close());

    it('GET /data?user_id=42 answers the demo user\'s 140-character string', async () => {
      const res = await fetch(`${app.url}/data?user_id=42`);
      assert.equal(res.status, 200);
      const body = await res.text();
      assert.equal(body, demoBody(42));
      assert.equal(body.length, 140);
      assert.match(res.headers.get('content-type') ?? '', /^text\/plain/);
      assert.equal(res.headers.get('cache-control'), 'max-age=300');
      assert.match(res.headers.get('etag') ?? '', /^"[A-Za-z0-9_-]+"$/);
      assert.equal(res.headers.get('x-cache'), 'miss');
      const again = await fetch(`${app.url}/data?user_id=42`);
      assert.equal(await again.text(), demoBody(42));
      assert.equal(again.headers.get('x-cache'), 'hit');
      assert.equal(again.headers.get('etag'), res.headers.get('etag'));
    });

    it('GET /v1/content/default/7 is the same content as /data?user_id=7', async () => {
      const a = await fetch(`${app.url}/v1/content/default/7`);
      assert.equal(a.status, 200);
      assert.equal(await a.text(), demoBody(7));
    });

    it('an unknown key is a 404 with a JSON error body', async () => {
      for (const path of ['/data?user_id=0', '/v1/content/default/nope', '/v1/content/weather/42']) {
        const res = await fetch(app.url + path);
        assert.equal(res.status, 404, path);
        assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
        const body = (await res.json()) as { error: { code: string; message: string } };
        assert.equal(body.error.code, 'FG_ERR_NOT_FOUND');
        assert.ok(body.error.message.length > 0);
      }
    });

    it('invalid keys are 400 with a JSON error body', async () => {
      const long = 'x'.repeat(257);
      const cases = ['/data?user_id=', `/data?user_id=${long}`, '/data?user_id=a%01b', '/data?user_id=%0A', `/v1/content/default/${'é'.repeat(129)}`, '/data?user_id=%E0%A4%A'];
      for (const path of cases) {
        const res = await fetch(app.url + path);
        assert.equal(res.status, 400, path);
        const body = (await res.json()) as { error: { code: string } };
        assert.ok(['FG_ERR_INVALID_KEY', 'FG_ERR_BAD_REQUEST'].includes(body.error.code), `${path}: ${body.error.code}`);
      }
      const missing = await fetch(`${app.url}/data`);
      assert.equal(missing.status, 400);
      assert.equal(((await missing.json()) as { error: { code: string } }).error.code, 'FG_ERR_BAD_REQUEST');
      const badCollection = await fetch(`${app.url}/v1/content/_x/1`);
      assert.equal(badCollection.status, 400);
      assert.equal(((await badCollection.json()) as { error: { code: string } }).error.code, 'FG_ERR_INVALID_COLLECTION');
    });

    it('a 256-byte key is valid (404, not 400)', async () => {
      const res = await fetch(`${app.url}/v1/content/default/${'k'.repeat(256)}`);
      assert.equal(res.status, 404);
    });

    it('If-None-Match with the ETag answers 304 without a body', async () => {
      const first = await fetch(`${app.url}/data?user_id=99`);
      const etag = first.headers.get('etag') ?? '';
      await first.arrayBuffer();
      const res = await fetch(`${app.url}/data?user_id=99`, { headers: { 'If-None-Match': etag } });
      assert.equal(res.status, 304);
      assert.equal(res.headers.get('etag'), etag);
      assert.equal((await res.arrayBuffer()).byteLength, 0);
      const other = await fetch(`${app.url}/data?user_id=99`, { headers: { 'If-None-Match': '"something-else"' } });
      assert.equal(other.status, 200);
    });

    it('HEAD answers the headers of GET without the body', async () => {
      const res = await fetch(`${app.url}/data?user_id=5`, { method: 'HEAD' });
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('content-length'), '140');
      assert.equal((await res.arrayBuffer()).byteLength, 0);
    });

    it('unknown routes are 404 and wrong methods 405, both JSON', async () => {
      const r = await fetch(`${app.url}/nope`);
      assert.equal(r.status, 404);
      assert.equal(((await r.json()) as { error: { code: string } }).error.code, 'FG_ERR_ROUTE_NOT_FOUND');
      const m = await fetch(`${app.url}/data?user_id=1`, { method: 'POST', body: 'x' });
      assert.equal(m.status, 405);
      assert.equal(m.headers.get('allow'), 'GET, HEAD');
      assert.equal(((await m.json()) as { error: { code: string } }).error.code, 'FG_ERR_METHOD_NOT_ALLOWED');
    });

    it('/healthz, /readyz and /metrics answer', async () => {
      assert.equal((await fetch(`${app.url}/healthz`)).status, 200);
      const ready = await fetch(`${app.url}/readyz`);
      assert.equal(ready.status, 200);
      const checks = ((await ready.json()) as { checks: Record<string, string> }).checks;
      assert.equal(checks.store, 'ok');
      if (backend !== 'embedded') assert.equal(checks.redis, 'ok');
      const text = await (await fetch(`${app.url}/metrics`)).text();
      for (const name of ['floodgate_http_requests_total', 'floodgate_http_request_duration_seconds_bucket', 'floodgate_cache_lookups_total', 'floodgate_store_queries_total', 'floodgate_store_query_duration_seconds_bucket', 'floodgate_http_requests_in_flight']) {
        assert.ok(text.includes(name), `metrics lack ${name}`);
      }
      assert.match(text, /floodgate_http_requests_total\{route="data",method="GET",collection="default",status="200"\} \d+/);
    });
  });
}

describe('read credentials', () => {
  it('a bearer token or basic auth is required when configured, and secrets stay out of the URL', async () => {
    await using app = await startTestApp({ env: { FLOODGATE_READ_TOKEN: 'r34d', FLOODGATE_READ_BASIC_AUTH: 'braze:pa:ss' } });
    const none = await fetch(`${app.url}/data?user_id=1`);
    assert.equal(none.status, 401);
    assert.match(none.headers.get('www-authenticate') ?? '', /^Basic/);
    assert.equal(((await none.json()) as { error: { code: string } }).error.code, 'FG_ERR_UNAUTHORIZED');
    const wrong = await fetch(`${app.url}/data?user_id=1`, { headers: { Authorization: 'Bearer nope' } });
    assert.equal(wrong.status, 401);
    const bearer = await fetch(`${app.url}/data?user_id=1`, { headers: { Authorization: 'Bearer r34d' } });
    assert.equal(bearer.status, 200);
    assert.equal(await bearer.text(), demoBody(1));
    const basic = await fetch(`${app.url}/data?user_id=1`, { headers: { Authorization: `Basic ${Buffer.from('braze:pa:ss').toString('base64')}` } });
    assert.equal(basic.status, 200);
    const lower = await fetch(`${app.url}/data?user_id=1`, { headers: { Authorization: 'bearer r34d' } });
    assert.equal(lower.status, 200);
    assert.equal((await fetch(`${app.url}/healthz`)).status, 200, 'health checks need no credentials');
  });
});
