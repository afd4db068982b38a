// The edges of writing and reading a user meets on day one: a PUT that creates answers 201; no Content-Type
// takes the collection's; curl's unasked form type is refused with 415 saying why; DELETE's answer; a stale
// answer carries Age; plain HTTP sent to the TLS port gets a 400 that says the port speaks HTTPS.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { startTestApp } from '../support/app.ts';

const dir = mkdtempSync(join(tmpdir(), 'fg-edges-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const auth = { authorization: 'Bearer t' };

describe('write and read edges', () => {
  it('PUT: 201 when it creates, 200 when it replaces; no Content-Type takes the collection\'s; form type is 415', async () => {
    const file = join(dir, 'c.json');
    writeFileSync(file, JSON.stringify({ collections: { prefs: { contentType: 'application/json' } } }));
    await using app = await startTestApp({ args: ['--collections', file], env: { FLOODGATE_ADMIN_TOKEN: 't' } });
    const url = `${app.url}/v1/content/prefs/u1`;
    // A body given as bytes is sent without a Content-Type.
    const created = await fetch(url, { method: 'PUT', headers: auth, body: new Uint8Array(Buffer.from('{"a":1}')) });
    assert.equal(created.status, 201);
    assert.equal(((await created.json()) as { contentType: string }).contentType, 'application/json');
    const read = await fetch(url);
    assert.equal(read.headers.get('content-type'), 'application/json');
    const replaced = await fetch(url, { method: 'PUT', headers: { ...auth, 'content-type': 'application/json' }, body: '{"a":2}' });
    assert.equal(replaced.status, 200);
    const form = await fetch(url, { method: 'PUT', headers: { ...auth, 'content-type': 'application/x-www-form-urlencoded' }, body: 'a=3' });
    assert.equal(form.status, 415);
    assert.match(((await form.json()) as { error: { message: string } }).error.message, /curl --data/);
    assert.equal(await (await fetch(url)).text(), '{"a":2}', 'the refused PUT changed nothing');
    const del = await fetch(url, { method: 'DELETE', headers: auth });
    assert.equal(del.status, 200);
    const body = (await del.json()) as Record<string, unknown>;
    assert.deepEqual(Object.keys(body).sort(), ['collection', 'deleted', 'key', 'version']);
    assert.equal(body['deleted'], true);
  });

  it('a stale answer carries Age, at least the TTL it outlived', async () => {
    const file = join(dir, 's.json');
    writeFileSync(file, JSON.stringify({ collections: { short: { ttl: '1s' } } }));
    await using app = await startTestApp({ args: ['--collections', file, '--warmup', '0'], env: { FLOODGATE_ADMIN_TOKEN: 't' } });
    assert.equal((await fetch(`${app.url}/v1/content/short/k`, { method: 'PUT', headers: { ...auth, 'content-type': 'text/plain' }, body: 'v' })).status, 201);
    const fresh = await fetch(`${app.url}/v1/content/short/k`);
    assert.equal(fresh.headers.get('age'), null);
    await new Promise((r) => setTimeout(r, 1100));
    const stale = await fetch(`${app.url}/v1/content/short/k`);
    assert.equal(stale.headers.get('x-cache'), 'stale');
    assert.ok(Number(stale.headers.get('age')) >= 1, String(stale.headers.get('age')));
  });

  it('plain HTTP sent to the TLS port gets a 400 saying the port speaks HTTPS', async () => {
    await using app = await startTestApp({ args: ['--tls-self-signed'] });
    const { port } = new URL(app.url);
    const reply = await new Promise<string>((resolve, reject) => {
      const c = connect(Number(port), '127.0.0.1', () => c.write('GET /data?user_id=1 HTTP/1.1\r\nHost: x\r\n\r\n'));
      let got = '';
      c.on('data', (d: Buffer) => (got += d.toString()));
      c.on('close', () => resolve(got));
      c.on('error', reject);
    });
    assert.match(reply, /^HTTP\/1\.1 400 Bad Request\r\n/);
    assert.match(reply, /This port speaks HTTPS/);
  });
});
