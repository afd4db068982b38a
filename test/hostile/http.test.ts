// Hostile input over the HTTP surface (issue 14), against a real `floodgate serve` (one worker, so a crash is
// seen as a replaced worker): generated keys, collections, query strings, headers, bodies, content types and
// methods. Each case asserts that the process lives, that every answer is the documented status with a JSON
// error from the registry, and that what a PUT stored reads back byte for byte with its Content-Type.
import assert from 'node:assert/strict';
import type { Agent } from 'node:http';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { EVENT_LOOP_SHEDDING_OFF } from '../../src/config.ts';
import { demoBody } from '../../src/content/demo.ts';
import { startServe, type Server } from '../lifecycle/helpers.ts';
import { anyBody, anyCollection, anyKey, badMediaType, decodePart, encodePart, goodCollection, goodKey, goodMediaType, urlPart, validCollection, validKey } from './inputs.ts';
import { assertError, check, keepAlive, send, type Reply } from './property.ts';

const TOKEN = 'hostile-admin-token';
const BODY_LIMIT = 4096;
const USERS = 1000;
/** Header values node:http will send: HTAB, visible ASCII, SP, obs-text. */
const sendable = (v: string): boolean => /^[\t\x20-\x7e\x80-\xff]*$/.test(v);
const trimOws = (v: string): string => v.replace(/^[ \t]+|[ \t]+$/g, '');

describe('hostile input: HTTP surface', () => {
  let s: Server;
  let agent: Agent;
  let workers: number[];
  before(async () => {
    s = await startServe(['--workers', '1', '--seed', String(USERS), '--body-limit', String(BODY_LIMIT), '--warmup', '50', ...EVENT_LOOP_SHEDDING_OFF], { FLOODGATE_ADMIN_TOKEN: TOKEN });
    workers = s.workers();
    agent = keepAlive();
  });
  after(async () => {
    agent?.destroy();
    await s?.kill();
  });

  /** The process lives: the same worker as at the start, none replaced, and it answers. */
  const alive = async (): Promise<void> => {
    assert.doesNotMatch(s.output(), /worker died|unhandled|uncaught/i, s.output().slice(-3000));
    assert.deepEqual(s.workers(), workers, 'the worker was replaced');
    assert.equal((await send(s.url, agent, { method: 'GET', path: '/healthz' })).status, 200);
  };

  it('PUT then GET/HEAD reads back what was stored, byte for byte; every refusal is a documented JSON error', async (t) => {
    const contentType = fc.oneof(
      { weight: 4, arbitrary: goodMediaType.map((v) => ({ v, good: true })) },
      { weight: 2, arbitrary: badMediaType.filter(sendable).map((v) => ({ v, good: false })) },
      { weight: 1, arbitrary: fc.constant(undefined) },
    );
    const auth = fc.constantFrom(...Array<string>(12).fill(`Bearer ${TOKEN}`), undefined, 'Bearer wrong', TOKEN, `bearer ${TOKEN}`, `Bearer ${TOKEN} `);
    const body = fc.oneof({ weight: 9, arbitrary: anyBody }, { weight: 1, arbitrary: fc.integer({ min: BODY_LIMIT - 2, max: BODY_LIMIT + 64 }).map((n) => Buffer.alloc(n, 0x61)) });
    // Mostly URLs that name a record, so that most cases reach the store; the rest anything.
    const parts = fc.oneof(
      { weight: 3, arbitrary: fc.tuple(goodCollection.map(encodePart), goodKey.map(encodePart)) },
      { weight: 1, arbitrary: fc.tuple(urlPart(anyCollection), urlPart(anyKey)) },
    );
    await check(t, fc.asyncProperty(parts, body, contentType, auth, fc.boolean(), async ([cPart, kPart], bytes, ct, authorization, thenDelete) => {
      const path = `/v1/content/${cPart}/${kPart}`;
      const headers: Record<string, string> = {};
      if (ct !== undefined) headers['Content-Type'] = ct.v;
      if (authorization !== undefined) headers.Authorization = authorization;
      const put = await send(s.url, agent, { method: 'PUT', path, headers, body: bytes });
      const collection = decodePart(cPart);
      const key = decodePart(kPart);
      const urlCodes: string[] = [];
      if (collection === undefined || key === undefined) urlCodes.push('FG_ERR_BAD_REQUEST');
      if (collection !== undefined && !validCollection(collection)) urlCodes.push('FG_ERR_INVALID_COLLECTION');
      if (key !== undefined && !validKey(key)) urlCodes.push('FG_ERR_INVALID_KEY');
      const authorized = authorization === `Bearer ${TOKEN}` || authorization === `Bearer ${TOKEN} ` || authorization === `bearer ${TOKEN}`;
      if (urlCodes.length > 0) {
        // A bad URL is refused before anything else; a missing token may be reported first.
        assertError(put, authorized ? urlCodes : [...urlCodes, 'FG_ERR_UNAUTHORIZED']);
        return;
      }
      if (!authorized) {
        // The scheme is case-insensitive and the value's trailing space is trimmed: those are the right token.
        assertError(put, ['FG_ERR_UNAUTHORIZED']);
        assert.ok(put.headers['www-authenticate'], '401 without WWW-Authenticate');
        return;
      }
      const typeCodes = ['FG_ERR_INVALID_CONTENT_TYPE', 'FG_ERR_UNSUPPORTED_MEDIA_TYPE', 'FG_ERR_BAD_REQUEST'];
      const badType = ct !== undefined && !ct.good;
      if (bytes.length > BODY_LIMIT) {
        // Too large, and maybe a bad type too: either refusal is right.
        assertError(put, ['FG_ERR_BODY_TOO_LARGE', ...(badType ? typeCodes : [])]);
        return;
      }
      if (badType && put.status !== 200) {
        assertError(put, typeCodes);
        return;
      }
      // 201 when the PUT created the key, 200 when it replaced it; no Content-Type: the collection's default.
      assert.ok(put.status === 200 || put.status === 201, `PUT ${path} (${JSON.stringify(ct?.v)}): ${put.status} ${put.body.toString()}`);
      const storedType = ct === undefined ? 'text/plain; charset=utf-8' : trimOws(ct.v);
      const ack = JSON.parse(put.body.toString()) as { collection: string; key: string; version: number; bytes: number; contentType: string };
      assert.deepEqual({ ...ack, version: 0 }, { collection, key, version: 0, bytes: bytes.length, contentType: storedType });
      const got = await send(s.url, agent, { method: 'GET', path });
      assert.equal(got.status, 200, `GET after PUT: ${got.status} ${got.body.toString()}`);
      assert.ok(got.body.equals(bytes), `GET ${path} answered other bytes than were stored`);
      assert.equal(got.headers['content-type'], storedType);
      const etag = String(got.headers.etag);
      const head = await send(s.url, agent, { method: 'HEAD', path });
      assert.equal(head.status, 200);
      assert.equal(head.headers['content-length'], String(bytes.length));
      assert.equal(head.body.length, 0);
      assert.equal((await send(s.url, agent, { method: 'GET', path, headers: { 'If-None-Match': etag } })).status, 304);
      if (thenDelete) {
        const del = await send(s.url, agent, { method: 'DELETE', path, headers: { Authorization: `Bearer ${TOKEN}` } });
        assert.equal(del.status, 200);
        assertError(await send(s.url, agent, { method: 'GET', path }), ['FG_ERR_NOT_FOUND']);
        assertError(await send(s.url, agent, { method: 'DELETE', path, headers: { Authorization: `Bearer ${TOKEN}` } }), ['FG_ERR_NOT_FOUND']);
      }
    }), 1.5);
    await alive();
  });

  it('/data?user_id= answers the first user_id\'s content, 404 or a documented 400, whatever the query string', async (t) => {
    const value = fc.oneof(
      fc.integer({ min: -5, max: USERS + 5 }).map(String),
      fc.constantFrom('', '0', '042', '1.0', '1e3', '+1', '%201', '1%20', '%31', '%2531', '%', '%zz', '%00', '%C3', '%E2%82%AC', '1%00', '1#x', '1+2', '%ED%A0%80'),
      fc.string({ unit: fc.constantFrom(...'0123456789%abcdefXYZ+=-_.~!$\'()*,;:@/?'), maxLength: 12 }),
    );
    const name = fc.constantFrom('user_id', 'user_id', 'user_id', 'User_id', 'user_ID', 'userid', 'user_id%20', 'uid', '', 'x');
    const param = fc.oneof(fc.tuple(name, value).map(([n, v]) => `${n}=${v}`), name);
    await check(t, fc.asyncProperty(fc.array(param, { maxLength: 4 }), fc.constantFrom('GET', 'HEAD'), async (params, method) => {
      const query = params.join('&');
      const reply = await send(s.url, agent, { method, path: `/data?${query}` });
      // The documented rule: the first parameter named exactly user_id, percent-decoded.
      const first = params.find((p) => p === 'user_id' || p.startsWith('user_id='));
      if (first === undefined) return void assertError(reply, ['FG_ERR_BAD_REQUEST'], method);
      const key = decodePart(first.slice('user_id='.length));
      if (key === undefined) return void assertError(reply, ['FG_ERR_BAD_REQUEST'], method);
      if (!validKey(key)) return void assertError(reply, ['FG_ERR_INVALID_KEY'], method);
      const id = Number(key);
      if (Number.isInteger(id) && id >= 1 && id <= USERS && String(id) === key) {
        assert.equal(reply.status, 200, `GET /data?${query}: ${reply.status}`);
        if (method === 'GET') assert.equal(reply.body.toString(), demoBody(id));
      } else assertError(reply, ['FG_ERR_NOT_FOUND'], method);
    }), 1.5);
    await alive();
  });

  it('any method, path and headers get a documented answer: 200/201/304, or a registered JSON error (405 with Allow)', async (t) => {
    const method = fc.constantFrom('GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'TRACE');
    const segment = urlPart(fc.oneof(anyKey, anyCollection, fc.constantFrom('v1', 'content', '_bulk', 'data', 'healthz')));
    const path = fc.oneof(
      fc.constantFrom('/healthz', '/readyz', '/metrics', '/data', '/', '/v1', '/v1/content', '/v1/content/', '/healthz/', '/HEALTHZ', '//healthz', '/data/', '/v1/content//'),
      fc.tuple(segment, segment).map(([c, k]) => `/v1/content/${c}/${k}`),
      fc.tuple(segment, segment, segment).map(([a, b, c]) => `/v1/content/${a}/${b}/${c}`),
      fc.array(segment, { minLength: 1, maxLength: 3 }).map((xs) => `/${xs.join('/')}`),
      fc.tuple(fc.constantFrom('/healthz', '/readyz', '/v1/content/a/b', '/data'), fc.string({ unit: fc.constantFrom(...'ab=&%?#+;'), maxLength: 10 })).map(([p, q]) => `${p}?${q}`),
    );
    const headerName = fc.oneof(fc.constantFrom('If-None-Match', 'Authorization', 'Content-Type', 'Accept', 'Accept-Encoding', 'Cookie', 'X-Forwarded-For', 'Range', 'Expect'), fc.stringMatching(/^X-[A-Za-z0-9-]{1,20}$/));
    const headerValue = fc.oneof(fc.string({ unit: fc.integer({ min: 0x20, max: 0xff }).filter((c) => c !== 0x7f).map((c) => String.fromCharCode(c)), maxLength: 60 }), fc.constantFrom('*', '"x"', 'Bearer ', `Bearer ${TOKEN}`, 'Basic Og==', 'bytes=0-1', '100-continue'));
    const headers = fc.array(fc.tuple(headerName, headerValue.map(trimOws)), { maxLength: 5 }).map((hs) => Object.fromEntries(hs.filter(([n]) => n !== 'Expect' )));
    await check(t, fc.asyncProperty(method, path, headers, fc.option(anyBody, { nil: undefined }), async (m, p, hs, body) => {
      const reply: Reply = await send(s.url, agent, { method: m, path: p, headers: hs, body: m === 'GET' || m === 'HEAD' ? undefined : body });
      if (reply.status < 400) {
        assert.ok([200, 201, 304].includes(reply.status), `${m} ${p}: ${reply.status}`);
        return;
      }
      const code = assertError(reply, undefined, m);
      if (reply.status === 405) assert.ok(reply.headers.allow, `405 without Allow on ${m} ${p}`);
      assert.notEqual(reply.status, 500, `${m} ${p} ${JSON.stringify(hs)}: an internal error (${code})`);
    }), 1.5);
    await alive();
  });
});
