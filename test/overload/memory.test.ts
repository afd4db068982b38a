// Over the memory watermark, misses are answered degraded at once (reason memory) while hits are served.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { startApp, type App } from '../../src/app.ts';
import { EVENT_LOOP_SHEDDING_OFF, loadConfig } from '../../src/config.ts';
import { demoBody } from '../../src/content/demo.ts';
import { SAMPLE_MS } from '../../src/http/pressure.ts';
import { metric } from '../support/serve.ts';

describe('overload: memory above its watermark', () => {
  let app: App;
  let dir: string;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'fg-mem-'));
    // A heap watermark of 1 byte: the process is always over it once the first sample is taken. Event-loop
    // shedding off, so that a busy test process cannot answer with that reason first.
    // No warm-up either: it would read (and cache) the seeded users this test needs cold.
    const quiet = [...EVENT_LOOP_SHEDDING_OFF, '--warmup', '0'];
    const { config } = loadConfig(['--port', '0', '--host', '127.0.0.1', '--data-dir', dir, '--seed', '100', '--max-heap', '1', '--log-level', 'silent', ...quiet], {});
    app = await startApp(config, { logger: pino({ level: 'silent' }) });
    // Cached through the service, not over HTTP: a request could already be refused if the first sample came
    // first (startApp on a loaded machine can take longer than a sample period).
    await app.service.get('default', '1');
    await new Promise((r) => setTimeout(r, SAMPLE_MS * 3));
  });
  after(async () => {
    await app?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('refuses misses with 503 FG_ERR_OVERLOADED (reason memory) and still serves hits', async () => {
    const miss = await fetch(`${app.url}/data?user_id=2`);
    assert.equal(miss.status, 503);
    assert.equal(miss.headers.get('x-degraded-reason'), 'memory');
    assert.equal(miss.headers.get('retry-after'), '1');
    assert.equal(((await miss.json()) as { error: { code: string } }).error.code, 'FG_ERR_OVERLOADED');
    const hit = await fetch(`${app.url}/data?user_id=1`);
    assert.deepEqual([hit.status, await hit.text()], [200, demoBody(1)]);
    assert.equal(await metric(app.url, 'floodgate_degraded_total', { answer: 'refused', reason: 'memory' }), 1);
    assert.equal(await metric(app.url, 'floodgate_under_pressure', { reason: 'memory' }), 1);
  });
});
