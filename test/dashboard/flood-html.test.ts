// flood's --html report in headless chromium: it opens from a file with every network request refused, with no
// console error and no request at all, and its charts are drawn (inline SVG with paths).
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { test } from 'node:test';
import { cli, startServer, tempDir } from '../flood/helpers.ts';
import { launchChromium } from '../support/chromium.ts';

test("flood's --html report opens offline in chromium: no request, no console error, charts drawn", async () => {
  await using srv = await startServer((_req, res) => res.end('ok'));
  await using dir = await tempDir();
  const html = join(dir.path, 'run.html');
  const r = await cli([srv.url, '-c', '4', '-d', '2s', '--html', html]);
  assert.equal(r.code, 0, r.stderr);
  const browser = await launchChromium();
  try {
    const context = await browser.newContext({ offline: true, viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    const errors: string[] = [];
    const requests: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(m.text());
    });
    page.on('pageerror', (e) => errors.push(e.message));
    await page.route('**/*', async (route) => {
      const url = route.request().url();
      if (url === pathToFileURL(html).href) return route.continue();
      requests.push(url);
      return route.abort();
    });
    await page.goto(pathToFileURL(html).href);
    const paths = await page.locator('svg path, svg polyline, svg rect').count();
    assert.ok(paths > 5, `${paths} drawn SVG shapes`);
    mkdirSync(new URL('../../test-results/', import.meta.url), { recursive: true });
    await page.screenshot({ path: new URL('../../test-results/flood-report.png', import.meta.url).pathname, fullPage: true });
    assert.deepEqual(requests, [], 'no request besides the file itself');
    assert.deepEqual(errors, [], 'no console error');
  } finally {
    await browser.close();
  }
});
