// The warm-up: before it listens, the server reads some of its own records (and reserved missing keys) over
// loopback through its own request handler, so a first burst does not run cold code. It must leave no trace in
// the metrics, read through the read credentials when reads need them, and be switchable off.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer } from 'node:http';
import { after, describe, it } from 'node:test';
import { pino } from 'pino';
import { startApp, type App } from '../../src/app.ts';
import { loadConfig } from '../../src/config.ts';
import { demoBody } from '../../src/content/demo.ts';
import { WARMUP_KEY_PREFIX, warmUp } from '../../src/http/warmup.ts';
import { metric } from '../support/serve.ts';

const dirs: string[] = [];
const apps: App[] = [];
after(async () => {
  await Promise.all(apps.map((a) => a.close()));
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function start(args: string[], env: Record<string, string> = {}): Promise<App> {
  const dir = mkdtempSync(join(tmpdir(), 'fg-warm-'));
  dirs.push(dir);
  const { config } = loadConfig(['--port', '0', '--host', '127.0.0.1', '--data-dir', dir, '--seed', '300', '--log-level', 'silent', ...args], env);
  const app = await startApp(config, { logger: pino({ level: 'silent' }) });
  apps.push(app);
  return app;
}

describe('warm-up before listening', () => {
  it('reads stored records and reserved missing keys through the handler, and counts nothing in /metrics', async () => {
    const app = await start(['--warmup', '600']);
    // The newest records were read (and cached) by the warm-up: the first real read of user 300 is a memory hit.
    const first = await fetch(`${app.url}/data?user_id=300`);
    assert.deepEqual([first.status, first.headers.get('x-cache'), await first.text()], [200, 'hit', demoBody(300)]);
    // A reserved key is a 404, remembered by the memory tier.
    const reserved = await fetch(`${app.url}/data?user_id=${WARMUP_KEY_PREFIX}0`);
    assert.deepEqual([reserved.status, reserved.headers.get('x-cache')], [404, 'hit']);
    // Only the two reads above are counted, not the warm-up's 600.
    assert.equal(await metric(app.url, 'floodgate_http_requests_total', { route: 'data' }), 2);
    assert.equal(await metric(app.url, 'floodgate_store_queries_total', { op: 'get' }), 0);
    assert.equal(await metric(app.url, 'floodgate_cache_lookups_total', { tier: 'memory', outcome: 'miss' }), 0);
  });

  it('reads with the read credentials when reads need them', async () => {
    const app = await start(['--warmup', '300'], { FLOODGATE_READ_TOKEN: 'r3ad' });
    const r = await fetch(`${app.url}/data?user_id=299`, { headers: { authorization: 'Bearer r3ad' } });
    assert.deepEqual([r.status, r.headers.get('x-cache')], [200, 'hit'], 'the warm-up read user 299 past the token check');
  });

  it('--warmup 0 reads nothing: the first read is a miss', async () => {
    const app = await start(['--warmup', '0']);
    const r = await fetch(`${app.url}/data?user_id=300`);
    assert.deepEqual([r.status, r.headers.get('x-cache')], [200, 'miss']);
  });

  it('warmUp answers exactly the requests asked for, cycling over the paths given, over several connections', async () => {
    const seen: string[] = [];
    const answered = await warmUp(
      (h) => createServer(h),
      (req, res) => {
        seen.push(req.url ?? '');
        res.end('ok');
      },
      { requests: 250, connections: 4, paths: ['/a', '/b'], missingKeys: 1 },
    );
    assert.equal(answered, 250);
    assert.equal(seen.length, 250);
    assert.deepEqual(new Set(seen), new Set(['/a', '/b', `/data?user_id=${WARMUP_KEY_PREFIX}0`]));
  });
});
