// `floodgate flood` as a user meets it: the real command in a child process, against servers this test starts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { cli, startServer, tempDir } from './helpers.ts';

test('--help teaches every option with its default, the templates, and examples', async () => {
  const r = await cli(['--help']);
  assert.equal(r.code, 0);
  for (const flag of ['--connections', '--duration', '--requests', '--think', '--rate', '--stage', '--method', '--header', '--body',
    '--timeout', '--new-connection', '--insecure', '--ok', '--threads', '--bail', '--name', '--json', '--html', '--threshold',
    '--strict', '--matrix', '--help', 'merge']) {
    assert.ok(r.stdout.includes(flag), `help mentions ${flag}`);
  }
  for (const text of ['(default 10)', '(default 1000)', '(default 10s', '(default 2s)', '(default 200-399)', '(default 1)',
    '{{int MIN MAX}}', '{{pick', '{{seq', '{{csv FILE COLUMN}}', 'Examples:', 'Exit codes:']) {
    assert.ok(r.stdout.includes(text), `help includes ${text}`);
  }
});

test('a mistyped flag is a usage error (exit 2) that suggests the right one', async () => {
  const r = await cli(['http://127.0.0.1:1/', '--conections', '5']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /unknown option '--conections' \(did you mean --connections\?\)/);
  const noUrl = await cli(['-c', '5']);
  assert.equal(noUrl.code, 2);
  assert.match(noUrl.stderr, /no URL given/);
});

test('a malformed threshold is a usage error (exit 2) with a clear message', async () => {
  const r = await cli(['http://127.0.0.1:1/', '--threshold', 'p99<fast']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /--threshold 'p99<fast': 'fast' is not a duration/);
});

test('a threshold breach is printed plainly and exits 1; a met threshold exits 0', async () => {
  await using srv = await startServer((_req, res) => {
    setTimeout(() => res.end('ok'), 20);
  });
  const breach = await cli([srv.url, '-c', '2', '-n', '20', '--threshold', 'p99<1ms', '--threshold', 'errors<1%']);
  assert.equal(breach.code, 1, breach.stderr);
  assert.match(breach.stdout, /THRESHOLD BREACHED: p99<1ms \(measured \d+(\.\d+)? ms\)/);
  assert.doesNotMatch(breach.stdout, /THRESHOLD BREACHED: errors/);
  const met = await cli([srv.url, '-c', '2', '-n', '20', '--threshold', 'p99<5s', '--threshold', 'errors<1%']);
  assert.equal(met.code, 0, met.stdout + met.stderr);
  assert.match(met.stdout, /pass\s+p99<5s/);
});

test('the summary has the reference table, the percentiles and a verdict; no progress line off a terminal', async () => {
  await using srv = await startServer((_req, res) => res.end('ok'));
  const r = await cli([`${srv.url}/data?user_id={{int 1 100000}}`, '-c', '4', '-d', '1s']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /Hits\s+Errors\s+Timeouts\s+Avg response\s+Error rate/);
  assert.match(r.stdout, /p50\s+p90\s+p99\s+p99\.9\s+max\s+mean/);
  assert.match(r.stdout, /Verdict: (TRUSTWORTHY|GENERATOR-BOUND)/);
  assert.equal(r.stderr, '', 'nothing on stderr when it is not a terminal');
  assert.doesNotMatch(r.stdout, /\r|\x1b\[/);
});

test('--json on two runs, then merge: one exact report, JSON and self-contained HTML', async () => {
  await using srv = await startServer((_req, res) => res.end('ok'));
  await using dir = await tempDir();
  const a = join(dir.path, 'a.json');
  const b = join(dir.path, 'b.json');
  const m = join(dir.path, 'm.json');
  const html = join(dir.path, 'm.html');
  assert.equal((await cli([srv.url, '-c', '2', '-n', '300', '--json', a, '--name', 'machine-a'])).code, 0);
  assert.equal((await cli([srv.url, '-c', '2', '-n', '200', '--json', b, '--name', 'machine-b'])).code, 0);
  // one run after the other: merge needs --force (see summary.test.ts)
  const merged = await cli(['merge', a, b, '--force', '--json', m, '--html', html, '--threshold', 'errors<1%']);
  assert.equal(merged.code, 0, merged.stderr);
  assert.match(merged.stdout, /merged from 2 runs/);
  const doc = JSON.parse(await readFile(m, 'utf8')) as { schema: string; version: number; summary: { hits: number }; runs: unknown[]; verdict: { text: string } };
  assert.equal(doc.schema, 'floodgate-flood-result');
  assert.equal(doc.version, 1);
  assert.equal(doc.summary.hits, 500);
  assert.equal(doc.runs.length, 2);
  assert.equal(srv.hits, 500);
  const page = await readFile(html, 'utf8');
  assert.match(page, /^<!doctype html>/);
  assert.ok((page.match(/<svg /g) ?? []).length >= 5, 'charts are inline SVG');
  assert.doesNotMatch(page, /<script|<link|src=|@import|url\(/i, 'no external resources');
});

test('--json - writes the JSON to stdout and the summary to stderr', async () => {
  await using srv = await startServer((_req, res) => res.end('ok'));
  const r = await cli([srv.url, '-c', '1', '-n', '5', '--json', '-']);
  assert.equal(r.code, 0);
  const doc = JSON.parse(r.stdout) as { summary: { hits: number } };
  assert.equal(doc.summary.hits, 5);
  assert.match(r.stderr, /Hits/);
});

test('--strict fails a generator-bound result; a merged result keeps the verdict', async () => {
  await using srv = await startServer((_req, res) => res.end('ok'));
  await using dir = await tempDir();
  const a = join(dir.path, 'a.json');
  assert.equal((await cli([srv.url, '-c', '1', '-n', '5', '--json', a])).code, 0);
  // make every second of the recorded run look saturated, as if flood had run out of CPU
  const doc = JSON.parse(await readFile(a, 'utf8')) as { timeline: { generator: { cpu: number; elu: number } }[] };
  for (const e of doc.timeline) {
    e.generator.cpu = 1;
    e.generator.elu = 1;
  }
  await writeFile(a, JSON.stringify(doc));
  const lenient = await cli(['merge', a]);
  assert.equal(lenient.code, 0);
  assert.match(lenient.stdout, /GENERATOR-BOUND from 0 s on/);
  const strict = await cli(['merge', a, '--strict']);
  assert.equal(strict.code, 1);
  assert.match(strict.stdout, /FAILED \(--strict\)/);
});

test('--matrix runs every axis combination and prints one comparison row per scenario', async () => {
  await using srv = await startServer((_req, res) => res.end('ok'));
  await using dir = await tempDir();
  const file = join(dir.path, 'matrix.json');
  const out = join(dir.path, 'matrix-result.json');
  await writeFile(file, JSON.stringify({
    defaults: { origin: srv.url, connections: 2, requests: 10 },
    axes: {
      resource: { small: { path: '/small' }, big: { path: '/big?x={{int 1 9}}' } },
      connection: { 'keep-alive': {}, fresh: { 'new-connection': true } },
    },
  }));
  const r = await cli(['--matrix', file, '--json', out]);
  assert.equal(r.code, 0, r.stderr + r.stdout);
  for (const name of ['small · keep-alive', 'small · fresh', 'big · keep-alive', 'big · fresh']) {
    assert.match(r.stdout, new RegExp(`^  ${name}\\s+\\d`, 'm'), name);
  }
  assert.equal(srv.hits, 40);
  const doc = JSON.parse(await readFile(out, 'utf8')) as { schema: string; results: { scenario: { name: string } }[] };
  assert.equal(doc.schema, 'floodgate-flood-matrix');
  assert.equal(doc.results.length, 4);
  await writeFile(file, JSON.stringify({ scenarios: [{ url: srv.url, conections: 2 }] }));
  const bad = await cli(['--matrix', file]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /unknown option 'conections'/);
});

test('--bail stops the run and exits 1', async () => {
  await using srv = await startServer((_req, res) => {
    res.statusCode = 503;
    res.end();
  });
  const r = await cli([srv.url, '-c', '2', '-d', '20s', '--bail', '50%']);
  assert.equal(r.code, 1);
  assert.match(r.stdout, /FAILED: stopped by --bail \(error rate 100(\.00)?%/);
});
