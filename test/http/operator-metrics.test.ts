// The metrics an operator reaches for, on a real app: memory-tier bytes, entries and evictions, which
// dependencies are up, the build, every floodgate_degraded_total series at zero from the start, and /metrics
// behind the read credentials when those are set.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { startTestApp } from '../support/app.ts';

const dir = mkdtempSync(join(tmpdir(), 'fg-opmetrics-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const value = (text: string, series: string): number | undefined => {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
};

describe('operator metrics', () => {
  it('memory tier, dependencies, build and degraded series at zero', async () => {
    await using app = await startTestApp({ args: ['--cache-bytes', '4KiB', '--warmup', '0'] });
    const before = await (await fetch(`${app.url}/metrics`)).text();
    for (const answer of ['stale', 'fallback', 'refused']) {
      for (const reason of ['deadline', 'queue-full', 'event-loop', 'memory', 'store-error']) {
        assert.equal(value(before, `floodgate_degraded_total{answer="${answer}",reason="${reason}"}`), 0, `${answer} ${reason}`);
      }
    }
    for (let i = 1; i <= 200; i++) assert.equal((await fetch(`${app.url}/data?user_id=${i}`)).status, 200);
    const text = await (await fetch(`${app.url}/metrics`)).text();
    const bytes = value(text, 'floodgate_memory_bytes') ?? -1;
    assert.ok(bytes > 0 && bytes <= 4096, `bytes ${bytes}`);
    const entries = value(text, 'floodgate_memory_entries') ?? -1;
    assert.ok(entries > 0 && entries < 200, `entries ${entries}`);
    assert.equal(value(text, 'floodgate_memory_evictions_total'), 200 - entries, 'what is not held was evicted');
    assert.match(text, /^floodgate_build_info\{version="\d+\.\d+\.\d+",node="v\d+[^"]*"\} 1$/m);
    assert.match(text, /^floodgate_dependency_up\{dependency="store"\} 1$/m);
  });

  it('requests are counted by method and configured collection; a name a caller typed is _other', async () => {
    const file = join(dir, 'c.json');
    writeFileSync(file, JSON.stringify({ collections: { promo: { ttl: '1m' } } }));
    await using app = await startTestApp({ args: ['--collections', file, '--warmup', '0'], env: { FLOODGATE_ADMIN_TOKEN: 't' } });
    const auth = { authorization: 'Bearer t' };
    assert.equal((await fetch(`${app.url}/v1/content/promo/a`, { method: 'PUT', headers: auth, body: 'x' })).status, 201);
    assert.equal((await fetch(`${app.url}/v1/content/promo/a`)).status, 200);
    assert.equal((await fetch(`${app.url}/v1/content/promo/a`, { method: 'HEAD' })).status, 200);
    assert.equal((await fetch(`${app.url}/v1/content/promo/a`, { method: 'PATCH' })).status, 405);
    for (let i = 0; i < 20; i++) assert.equal((await fetch(`${app.url}/v1/content/typed-${i}/a`)).status, 404);
    assert.equal((await fetch(`${app.url}/v1/content/typed-x/a`, { method: 'PUT', headers: auth, body: 'x' })).status, 201);
    assert.equal((await fetch(`${app.url}/v1/content/bad%20name/a`)).status, 400);
    assert.equal((await fetch(`${app.url}/data?user_id=1`)).status, 200);
    assert.equal((await fetch(`${app.url}/healthz`)).status, 200);
    const text = await (await fetch(`${app.url}/metrics`)).text();
    const requests = text.split('\n').filter((l) => l.startsWith('floodgate_http_requests_total{')).sort();
    assert.deepEqual(requests, [
      'floodgate_http_requests_total{route="content",method="GET",collection="_other",status="404"} 20',
      'floodgate_http_requests_total{route="content",method="GET",collection="promo",status="200"} 1',
      'floodgate_http_requests_total{route="content",method="HEAD",collection="promo",status="200"} 1',
      'floodgate_http_requests_total{route="data",method="GET",collection="default",status="200"} 1',
      'floodgate_http_requests_total{route="healthz",method="GET",status="200"} 1',
      'floodgate_http_requests_total{route="other",method="GET",status="400"} 1',
      'floodgate_http_requests_total{route="write",method="PATCH",collection="promo",status="405"} 1',
      'floodgate_http_requests_total{route="write",method="PUT",collection="_other",status="201"} 1',
      'floodgate_http_requests_total{route="write",method="PUT",collection="promo",status="201"} 1',
    ]);
  });

  it('/metrics needs the read credentials when they are set', async () => {
    await using app = await startTestApp({ env: { FLOODGATE_READ_TOKEN: 'r3ad' } });
    assert.equal((await fetch(`${app.url}/metrics`)).status, 401);
    const ok = await fetch(`${app.url}/metrics`, { headers: { authorization: 'Bearer r3ad' } });
    assert.equal(ok.status, 200);
    assert.match(await ok.text(), /floodgate_http_requests_total/);
  });
});
