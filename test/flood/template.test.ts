import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { compileTemplate, encodeTargetValue, parseTemplate, TemplateContext } from '../../src/flood/template.ts';
import { buildRequestSpec, parseTarget, RequestFactory } from '../../src/flood/request.ts';
import { UsageError } from '../../src/flood/usage.ts';
import { flood, startServer, tempDir } from './helpers.ts';

function render(source: string, n: number, thread = 0, threads = 1): string[] {
  const ctx = new TemplateContext(thread, threads);
  const f = compileTemplate(parseTemplate(source, 'test'), ctx);
  return Array.from({ length: n }, () => {
    ctx.next();
    return f();
  });
}

test('{{int MIN MAX}} stays within its range and reaches both ends', () => {
  const values = render('{{int 1 5}}', 2000).map(Number);
  assert.ok(values.every((v) => Number.isInteger(v) && v >= 1 && v <= 5));
  assert.deepEqual([...new Set(values)].sort(), [1, 2, 3, 4, 5]);
});

test('{{pick}} picks only listed values, quoted ones with spaces', () => {
  const values = new Set(render('{{pick a "b c" d}}', 500));
  assert.deepEqual([...values].sort(), ['a', 'b c', 'd']);
});

test('{{seq}} counts, with start and step; the same seq twice in a request gives the same value', () => {
  assert.deepEqual(render('{{seq}}', 3), ['1', '2', '3']);
  assert.deepEqual(render('{{seq 10 5}}', 3), ['10', '15', '20']);
  assert.deepEqual(render('/u/{{seq 1}}?again={{seq 1}}', 2), ['/u/1?again=1', '/u/2?again=2']);
});

test('{{seq}} interleaves across threads so values stay unique', () => {
  const t0 = render('{{seq 1}}', 3, 0, 2);
  const t1 = render('{{seq 1}}', 3, 1, 2);
  assert.deepEqual(t0, ['1', '3', '5']);
  assert.deepEqual(t1, ['2', '4', '6']);
});

test('{{csv FILE COLUMN}} reads rows in order by name or position, columns of one file stay on one row', async () => {
  await using dir = await tempDir();
  const file = join(dir.path, 'users.csv');
  await writeFile(file, 'id,name\n7,"Ada, Countess"\n8,Linus\n');
  assert.deepEqual(render(`{{csv ${file} id}}:{{csv ${file} name}}`, 3), ['7:Ada, Countess', '8:Linus', '7:Ada, Countess']);
  assert.deepEqual(render(`{{csv ${file} 2}}`, 2), ['Ada, Countess', 'Linus']);
  assert.throws(() => parseTemplate(`{{csv ${file} nope}}`, 'URL'), /no column 'nope'/);
  assert.throws(() => parseTemplate(`{{csv ${join(dir.path, 'missing.csv')} id}}`, 'URL'), /cannot read/);
});

test('{{uuid}} gives a fresh UUID each time', () => {
  const values = render('{{uuid}}', 50);
  assert.equal(new Set(values).size, 50);
  assert.match(values[0] ?? '', /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
});

test('malformed templates are usage errors that say what is wrong', () => {
  const cases: [string, RegExp][] = [
    ['{{int 1}}', /takes two numbers/],
    ['{{int 5 1}}', /MAX is smaller than MIN/],
    ['{{int a b}}', /whole numbers/],
    ['{{pick}}', /at least one value/],
    ['{{seq 1 0}}', /STEP must not be 0/],
    ['{{rand 1 2}}', /unknown template function 'rand'.*known: int, pick, seq, csv, uuid/],
    ['/x?id={{int 1 2', /never closed/],
  ];
  for (const [source, message] of cases) {
    assert.throws(() => parseTemplate(source, 'URL'), (err: unknown) => err instanceof UsageError && message.test(err.message), source);
  }
});

test('values that would break the request line are percent-encoded in the URL, paths kept', () => {
  assert.equal(encodeTargetValue('New York'), 'New%20York');
  assert.equal(encodeTargetValue('a/b?c=d&e=%20'), 'a/b?c=d&e=%20');
  assert.equal(encodeTargetValue('é"<>'), '%C3%A9%22%3C%3E');
});

test('a request without templates is pre-built once; a templated one is rendered per request', () => {
  const plain = new RequestFactory(buildRequestSpec({ url: 'http://h:81/a?b=1', headers: ['x-a: 1'] }).spec);
  assert.ok(plain.prebuilt);
  assert.equal(plain.prebuilt.toString(), 'GET /a?b=1 HTTP/1.1\r\nHost: h:81\r\nx-a: 1\r\nUser-Agent: floodgate-flood\r\n\r\n');
  const templated = new RequestFactory(buildRequestSpec({ url: 'http://h/u/{{seq}}', body: '{"n":{{seq}}}' }).spec);
  assert.equal(templated.prebuilt, null);
  assert.equal(templated.render(), 'POST /u/1 HTTP/1.1\r\nHost: h\r\nUser-Agent: floodgate-flood\r\nContent-Length: 7\r\n\r\n{"n":1}');
  assert.match(templated.render(), /^POST \/u\/2 [^]*Content-Length: 7\r\n\r\n\{"n":2\}$/);
});

test('URLs: defaults, IPv6, and templates refused in the host', () => {
  assert.deepEqual(parseTarget('https://example.com').target, { protocol: 'https:', hostname: 'example.com', port: 443, host: 'example.com', url: 'https://example.com' });
  assert.equal(parseTarget('http://[::1]:8080/x').target.hostname, '::1');
  assert.equal(parseTarget('http://h?q=1').path, '/?q=1');
  assert.throws(() => parseTarget('http://{{pick a b}}/'), /not in the host/);
  assert.throws(() => parseTarget('ftp://h/'), /not an http/);
});

test('end to end: the server receives expanded, in-range values', async () => {
  await using srv = await startServer((_req, res) => res.end('ok'), { keepTargets: true });
  const r = await flood({ url: `${srv.url}/data?user_id={{int 1 100}}&n={{seq 1}}&c={{pick red green}}`, connections: '4', requests: '200' });
  assert.equal(r.counts.ok, 200);
  assert.equal(srv.targets.length, 200);
  const seen = srv.targets.map((t) => new URL(t, 'http://x').searchParams);
  assert.ok(seen.every((q) => Number(q.get('user_id')) >= 1 && Number(q.get('user_id')) <= 100));
  assert.deepEqual(seen.map((q) => Number(q.get('n'))).sort((a, b) => a - b), Array.from({ length: 200 }, (_, i) => i + 1));
  assert.ok(seen.every((q) => ['red', 'green'].includes(q.get('c') ?? '')));
});
