// What flood's summary says when the run went wrong: a dead target, answers outside --ok, runs merged that did not
// run at the same time; and each help text reached the way a user asks for it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cli, startServer, tempDir } from './helpers.ts';

/** A loopback port nothing listens on: bound by us, then closed. */
async function deadPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

test('a run against a dead port says nothing succeeded and exits 1, never TRUSTWORTHY', async () => {
  const r = await cli([`http://127.0.0.1:${await deadPort()}/`, '-c', '2', '-n', '20']);
  assert.equal(r.code, 1, r.stdout + r.stderr);
  assert.match(r.stdout, /Verdict: NOTHING SUCCEEDED: none of the 20 requests got a successful answer \(refused × 20\)/);
  assert.doesNotMatch(r.stdout, /TRUSTWORTHY/);
  assert.match(r.stdout, /FAILED: no request succeeded/);
});

test('answers outside --ok are listed under Failures, as Errors counts them; Hits is explained', async () => {
  await using srv = await startServer((_req, res) => {
    res.statusCode = 404;
    res.end('no');
  });
  const some = await usingOk(srv.url, []);
  assert.match(some.stdout, /Errors[^\n]*\n\s+10\s+10\s/, some.stdout);
  assert.match(some.stdout, /Failures\s+status 404 × 10/);
  assert.match(some.stdout, /Hits: requests that finished, answered or failed; not cache hits/);
  const allowed = await usingOk(srv.url, ['--ok', '200-399,404']);
  assert.match(allowed.stdout, /Failures\s+none/);
  assert.equal(allowed.code, 0);
});

function usingOk(url: string, extra: string[]) {
  return cli([url, '-c', '1', '-n', '10', ...extra]);
}

test('merge refuses runs whose time spans do not overlap unless --force, and then warns', async () => {
  await using srv = await startServer((_req, res) => res.end('ok'));
  await using dir = await tempDir();
  const a = join(dir.path, 'a.json');
  assert.equal((await cli([srv.url, '-c', '1', '-n', '20', '--json', a])).code, 0);
  const doc = JSON.parse(await readFile(a, 'utf8')) as { startedAt: number; durationMs: number; runs: { startedAt: number }[] };
  const shifted = async (name: string, byMs: number): Promise<string> => {
    const copy = structuredClone(doc);
    copy.startedAt += byMs;
    for (const run of copy.runs) run.startedAt += byMs;
    const file = join(dir.path, name);
    await writeFile(file, JSON.stringify(copy));
    return file;
  };
  const later = await shifted('later.json', doc.durationMs + 10_000);
  const refused = await cli(['merge', a, later]);
  assert.equal(refused.code, 2, refused.stdout + refused.stderr);
  assert.match(refused.stderr, /the runs did not overlap in time: run 2 .* started 10\.0 s after run 1 .* ended.*--force/);
  const forced = await cli(['merge', a, later, '--force']);
  assert.equal(forced.code, 0, forced.stderr);
  assert.match(forced.stderr, /warning: the runs did not overlap in time/);
  assert.match(forced.stdout, /merged from 2 runs/);
  const together = await cli(['merge', a, await shifted('same.json', 0)]);
  assert.equal(together.code, 0, together.stderr);
  assert.doesNotMatch(together.stderr, /overlap/);
});

const BIN = fileURLToPath(new URL('../../bin/floodgate.js', import.meta.url));
function floodgate(args: string[]): Promise<{ code: number; stdout: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], (err, stdout) => resolve({ code: err === null ? 0 : Number((err as { code?: unknown }).code ?? 1), stdout }));
  });
}

test('flood merge --help prints merge\'s help; floodgate help flood prints flood\'s', async () => {
  const merge = await floodgate(['flood', 'merge', '--help']);
  assert.equal(merge.code, 0);
  assert.match(merge.stdout, /^floodgate flood merge: /);
  assert.match(merge.stdout, /--force/);
  assert.doesNotMatch(merge.stdout, /\{\{int MIN MAX\}\}/, 'not the whole of flood\'s help');
  const help = await floodgate(['help', 'flood']);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /^floodgate flood: load-test/);
});

test('the HTML report shades what the verdict says, and counts errors in whole requests', async () => {
  let n = 0;
  await using srv = await startServer((_req, res) => {
    res.statusCode = n++ === 0 ? 200 : 500;
    res.end('x');
  });
  await using dir = await tempDir();
  const a = join(dir.path, 'a.json');
  assert.equal((await cli([srv.url, '-c', '1', '-n', '2', '--json', a])).code, 0);
  // five seconds, one of them with flood's CPU saturated: a brief stall under a TRUSTWORTHY verdict
  const doc = JSON.parse(await readFile(a, 'utf8')) as { timeline: { second: number; generator: { cpu: number; elu: number; loopDelayP99: number; lateSends: number } }[] };
  const [only] = doc.timeline;
  assert.ok(only);
  doc.timeline = [0, 1, 2, 3, 4].map((second) => ({ ...structuredClone(only), second, generator: { ...only.generator, cpu: second === 2 ? 1 : 0.1, elu: 0.1, loopDelayP99: 0, lateSends: 0 } }));
  await writeFile(a, JSON.stringify(doc));
  const html = join(dir.path, 'a.html');
  const r = await cli(['merge', a, '--html', html]);
  assert.match(r.stdout, /TRUSTWORTHY, with 1 brief generator stall/);
  const page = await readFile(html, 'utf8');
  assert.doesNotMatch(page, /flood itself was the bottleneck|shaded: flood was the bottleneck/);
  assert.match(page, /brief generator stall/);
  const errors = page.slice(page.indexOf('Errors per second'));
  const chart = errors.slice(0, errors.indexOf('</svg>'));
  const ticks = [...chart.matchAll(/class="yt">([^<]*)</g)].map((m) => m[1] ?? '');
  assert.ok(ticks.length > 0, chart);
  assert.ok(ticks.every((t) => !t.includes('.')), `y ticks in whole requests: ${ticks.join(' ')}`);
});
