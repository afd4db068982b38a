// The dashboard in a real browser (Debian's chromium, driven by playwright-core): it loads with no console error
// and no request outside the server; under a short flood the requests/s figure rises above zero and the
// latency chart draws; once Redis is stopped the health line says Redis is degraded; hiding the tab closes the
// stream (the server's count of streams drops to 0). A screenshot is saved under test-results/ (CI artefact).
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { after, before, test } from 'node:test';
import type { Browser } from 'playwright-core';
import { launchChromium, watchPage, type PageGlobals } from '../support/chromium.ts';
import { pgArgs, pgSchema, type PgSchema } from '../integration/helpers.ts';
import { startRedisServer, type RedisServer } from '../support/redis-server.ts';
import { metric, serve, type Served } from '../support/serve.ts';

const RESULTS = new URL('../../test-results/', import.meta.url);

let redis: RedisServer;
let schema: PgSchema;
let srv: Served;
let browser: Browser;

before(async () => {
  redis = await startRedisServer();
  schema = pgSchema();
  srv = await serve({ args: [...pgArgs(schema.name), '--redis-url', redis.url, '--workers', '2', '--seed', '2000'] });
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await srv?.stop();
  await redis?.[Symbol.asyncDispose]();
  await schema?.[Symbol.asyncDispose]();
});

/** A bounded flood from this process: `connections` loops reading demo users for `ms`. */
async function flood(base: string, connections: number, ms: number): Promise<number> {
  const end = Date.now() + ms;
  let answered = 0;
  await Promise.all(Array.from({ length: connections }, async (_, c) => {
    for (let i = 0; Date.now() < end && i < 100_000; i++) {
      const res = await fetch(`${base}/data?user_id=${((c * 7919 + i) % 2000) + 1}`);
      await res.arrayBuffer();
      answered++;
    }
  }));
  return answered;
}

test('the dashboard in chromium: no console error, no outside request, live figures, Redis degraded after it stops, stream closed while hidden', async () => {
  const page = await browser.newPage({ viewport: { width: 1600, height: 1000 }, deviceScaleFactor: 1 });
  const seen = watchPage(page, srv.url);
  const res = await page.goto(`${srv.url}/dashboard`);
  assert.equal(res?.status(), 200);
  await page.waitForFunction(() => (globalThis as unknown as PageGlobals).document.getElementById('health')?.className.includes('healthy') === true, undefined, { timeout: 15_000 });
  assert.equal(await metric(srv.url, 'floodgate_dashboard_streams'), 1, 'one stream open while the page is visible');

  const answered = await flood(srv.url, 16, 4000);
  assert.ok(answered > 0);
  await page.waitForFunction(() => Number(((globalThis as unknown as PageGlobals).document.getElementById('rps-now')?.textContent ?? '').replaceAll(',', '')) > 0, undefined, { timeout: 10_000 });
  await page.waitForFunction(() => Number((globalThis as unknown as PageGlobals).document.getElementById('chart-latency')?.dataset.drawn ?? 0) > 0, undefined, { timeout: 10_000 });
  // The latency chart's canvas has the p99 line's colour on it (drawn, not only counted).
  const painted = await page.evaluate(() => {
    const canvas = (globalThis as unknown as PageGlobals).document.querySelector('#chart-latency canvas');
    if (!canvas) return 0;
    const px = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
    let n = 0;
    for (let i = 0; i < px.length; i += 4) if (px[i] === 0xf0 && px[i + 1] === 0x88 && px[i + 2] === 0x3e) n++;
    return n;
  });
  assert.ok(painted > 0, 'the p99 line is painted on the latency chart');

  await redis.stop();
  await page.waitForFunction(() => {
    const h = (globalThis as unknown as PageGlobals).document.getElementById('health');
    return h?.className.includes('degraded') === true && /Redis/.test(h.textContent ?? '');
  }, undefined, { timeout: 20_000 });
  assert.match(await page.locator('#health-text').innerText(), /Redis/);
  assert.equal(await page.locator('#dep-redis').getAttribute('class'), 'dep down');

  mkdirSync(RESULTS, { recursive: true });
  await page.screenshot({ path: new URL('dashboard.png', RESULTS).pathname, fullPage: true });

  // A hidden tab costs the server nothing: the page closes its stream, the server stops sampling.
  await page.evaluate(() => {
    const g = globalThis as unknown as PageGlobals;
    Object.defineProperty(g.document, 'hidden', { configurable: true, get: () => true });
    Object.defineProperty(g.document, 'visibilityState', { configurable: true, get: () => 'hidden' });
    g.document.dispatchEvent(new g.Event('visibilitychange'));
  });
  for (let i = 0; i < 100 && (await metric(srv.url, 'floodgate_dashboard_streams')) !== 0; i++) await new Promise((r) => setTimeout(r, 50));
  assert.equal(await metric(srv.url, 'floodgate_dashboard_streams'), 0, 'no stream while the tab is hidden');
  assert.equal(await page.locator('#stream').innerText(), 'paused (tab hidden)');

  assert.deepEqual(seen.outside, [], 'no request outside the server');
  assert.deepEqual(seen.errors, [], 'no console error');
  await page.close();
});
