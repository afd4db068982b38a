// A collection may answer keys that do not exist with its fallback body ("missing": "fallback"); 404 stays the
// default, also for a collection that has a fallback body only for degraded answers.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { CollectionsError, parseCollections } from '../../src/content/collections.ts';
import { startTestApp } from '../support/app.ts';

const dir = mkdtempSync(join(tmpdir(), 'fg-missing-'));
after(() => rmSync(dir, { recursive: true, force: true }));

describe('"missing": "fallback"', () => {
  it('answers an unknown key with the fallback body; without it, 404 as before', async () => {
    const file = join(dir, 'c.json');
    writeFileSync(file, JSON.stringify({ collections: {
      recs: { fallback: '[]', fallbackContentType: 'application/json', missing: 'fallback' },
      plain: { fallback: '[]' },
    } }));
    await using app = await startTestApp({ args: ['--collections', file], env: { FLOODGATE_ADMIN_TOKEN: 't' } });
    const unknown = await fetch(`${app.url}/v1/content/recs/nobody`);
    assert.equal(unknown.status, 200);
    assert.equal(await unknown.text(), '[]');
    assert.equal(unknown.headers.get('content-type'), 'application/json');
    assert.equal(unknown.headers.get('x-fallback'), 'missing');
    assert.equal((await fetch(`${app.url}/v1/content/plain/nobody`)).status, 404);
    const put = await fetch(`${app.url}/v1/content/recs/alice`, { method: 'PUT', headers: { authorization: 'Bearer t', 'content-type': 'application/json' }, body: '[1]' });
    assert.ok(put.ok);
    assert.equal(await (await fetch(`${app.url}/v1/content/recs/alice`)).text(), '[1]');
  });

  it('is checked at start: a value it does not know, or no fallback body to answer with', () => {
    assert.throws(() => parseCollections({ collections: { c: { missing: 'fallback' } } }, 1000), CollectionsError);
    assert.throws(() => parseCollections({ collections: { c: { fallback: 'x', missing: 'maybe' } } }, 1000), /missing: expected "not-found"/);
  });
});
