// The fast path (src/http/fast-path.ts): what it reads itself and what it hands to node:http, and that a client
// cannot tell the two apart. Every exchange runs against two real apps on the same data, one with the fast path
// (the default) and one with --fast-path=false, and their answers are compared byte for byte but the Date.
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { parse } from '../../src/http/fast-path.ts';
import { startTestApp, type TestApp } from '../support/app.ts';
import { insertSqliteRows } from '../support/raw-rows.ts';
import { check } from '../hostile/property.ts';

interface Answer {
  status: number;
  /** Header lines but Date, sorted. */
  headers: string[];
  body: string;
}

interface Exchange {
  answers: Answer[];
  /** The server closed the connection before the wait ended. */
  closed: boolean;
}

function parseAll(buf: Buffer): Answer[] {
  const out: Answer[] = [];
  let at = 0;
  for (;;) {
    const end = buf.indexOf('\r\n\r\n', at);
    if (end === -1) return out;
    const lines = buf.subarray(at, end).toString('latin1').split('\r\n');
    const status = Number(/^HTTP\/1\.1 (\d{3}) /.exec(lines[0] ?? '')?.[1]);
    const headers = lines.slice(1).filter((l) => !/^date:/i.test(l)).sort();
    const length = Number(/^content-length: *(\d+)$/im.exec(lines.join('\n'))?.[1] ?? 0);
    const bodyLength = status === 304 ? 0 : length;
    if (end + 4 + bodyLength > buf.length) return out;
    out.push({ status, headers, body: buf.subarray(end + 4, end + 4 + bodyLength).toString('utf8') });
    at = end + 4 + bodyLength;
  }
}

/** Writes `chunks` on one new connection (a pause between them) and reads until `answers` answers, a close, or `waitMs`. */
function exchange(port: number, chunks: (string | Buffer)[], answers: number, opts: { gapMs?: number; waitMs?: number; halfClose?: boolean; head?: boolean } = {}): Promise<Exchange & { raw: Buffer }> {
  return new Promise((resolve) => {
    const socket: Socket = connect(port, '127.0.0.1');
    let got = Buffer.alloc(0);
    let done = false;
    const finish = (closed: boolean): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ answers: parseHeadAware(got, opts.head === true), closed, raw: got });
    };
    const timer = setTimeout(() => finish(false), opts.waitMs ?? 3000);
    socket.on('data', (d: Buffer) => {
      got = Buffer.concat([got, d]);
      if (answers > 0 && parseHeadAware(got, opts.head === true).length >= answers && opts.waitMs === undefined) finish(false);
    });
    socket.on('error', () => finish(true));
    socket.on('close', () => finish(true));
    socket.on('connect', async () => {
      for (const c of chunks) {
        if (socket.destroyed) return;
        socket.write(c);
        if (opts.gapMs) await new Promise((r) => setTimeout(r, opts.gapMs));
      }
      if (opts.halfClose) socket.end();
    });
  });
}

/** HEAD answers carry a Content-Length but no body. */
function parseHeadAware(buf: Buffer, head: boolean): Answer[] {
  if (!head) return parseAll(buf);
  const text = buf.toString('latin1').split('\r\n\r\n').filter((h) => h.startsWith('HTTP/'));
  return text.map((h) => {
    const lines = h.split('\r\n');
    return { status: Number(lines[0]?.slice(9, 12)), headers: lines.slice(1).filter((l) => !/^date:/i.test(l)).sort(), body: '' };
  });
}

const port = (app: TestApp): number => Number(new URL(app.url).port);
const counter = async (app: TestApp, name: string): Promise<number> => (await app.registry.getSingleMetric(name)?.get())?.values[0]?.value ?? Number.NaN;
const fastRequests = (app: TestApp): Promise<number> => counter(app, 'floodgate_fast_path_requests_total');
const handovers = (app: TestApp): Promise<number> => counter(app, 'floodgate_fast_path_handovers_total');
const GET = (path: string, extra = ''): string => `GET ${path} HTTP/1.1\r\nHost: t\r\n${extra}\r\n`;

describe('fast path', () => {
  let fast: TestApp;
  let node: TestApp;
  before(async () => {
    const env = { FLOODGATE_ADMIN_TOKEN: 'fp-admin' };
    [fast, node] = await Promise.all([startTestApp({ env }), startTestApp({ env, args: ['--fast-path=false'] })]);
  });
  after(async () => {
    await fast?.close();
    await node?.close();
  });

  /** The same bytes to both apps; their answers must be identical but the Date. */
  const same = async (chunks: string[], answers: number, opts: { gapMs?: number; head?: boolean } = {}): Promise<Exchange> => {
    const [a, b] = await Promise.all([exchange(port(fast), chunks, answers, opts), exchange(port(node), chunks, answers, opts)]);
    assert.deepEqual(a.answers, b.answers, `fast path vs node:http for ${JSON.stringify(chunks)}`);
    assert.equal(a.answers.length, answers, `answers to ${JSON.stringify(chunks)}: ${a.raw.toString('latin1')}`);
    return a;
  };

  it('answers reads exactly as node:http does: hits, misses, 404, 400s, 304, HEAD, content URLs', async () => {
    const before = await fastRequests(fast);
    await same([GET('/data?user_id=7')], 1); // a miss, then
    await same([GET('/data?user_id=7')], 1); // a hit
    await same([GET('/data?user_id=999999')], 1);
    await same([GET('/data')], 1);
    await same([GET('/data?user_id=%ZZ')], 1);
    await same([GET('/data?user_id=')], 1);
    await same([GET('/dataset')], 1);
    await same([GET('/v1/content/default/8')], 1);
    await same([GET('/v1/content/Bad%20Name/1')], 1);
    await same([GET('/v1/content/default/a/b')], 1);
    await same([GET('/data?user_id=9&user_id=10')], 1);
    await same([`HEAD /data?user_id=7 HTTP/1.1\r\nHost: t\r\n\r\n`], 1, { head: true });
    const first = await exchange(port(fast), [GET('/data?user_id=7')], 1);
    const etag = first.answers[0]?.headers.find((h) => h.startsWith('ETag: '))?.slice(6);
    assert.ok(etag, 'the read has an ETag');
    const r = await same([GET('/data?user_id=7', `If-None-Match: ${etag}\r\n`)], 1);
    assert.equal(r.answers[0]?.status, 304);
    assert.equal(await fastRequests(fast) - before, 14, 'every one of these was read by the fast path');
    assert.equal(await fastRequests(node), 0, '--fast-path=false reads nothing itself');
    assert.equal(await handovers(fast), 0);
  });

  it('what it does not read itself reaches node:http unchanged, on the same connection', async () => {
    const odd = [
      'GET /data?user_id=1 HTTP/1.0\r\nHost: t\r\n\r\n',
      'get /data?user_id=1 HTTP/1.1\r\nHost: t\r\n\r\n',
      'GET http://t/data?user_id=1 HTTP/1.1\r\nHost: t\r\n\r\n',
      'GET  /data?user_id=1 HTTP/1.1\r\nHost: t\r\n\r\n',
      'GET /data?user_id=1 HTTP/1.1\r\nHost: t\r\nX-Folded: a\r\n b\r\n\r\n',
      'GET /data?user_id=1 HTTP/1.1\r\nHost: t\r\nX-Bad: a\x01b\r\n\r\n',
      'GET /data?user_id=1 HTTP/1.1\r\nHost: t\r\nX-Latin: caf\xe9\r\n\r\n',
      'GET /data?user_id=1 HTTP/1.1\r\nHost : t\r\n\r\n',
      'GET /data?user_id=1 HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello',
      'GET /data?user_id=1 HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n',
      'GET /data?user_id=1 HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab',
      'GET /data?user_id=1 HTTP/1.1\nHost: t\n\n',
      'GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n',
      'DELETE /data?user_id=1 HTTP/1.1\r\nHost: t\r\n\r\n',
    ];
    const before = await handovers(fast);
    for (const bytes of odd) {
      const [a, b] = await Promise.all([exchange(port(fast), [bytes], 1), exchange(port(node), [bytes], 1)]);
      assert.deepEqual(a.answers, b.answers, `fast path vs node:http for ${JSON.stringify(bytes)}`);
      assert.equal(a.closed, b.closed, `closed after ${JSON.stringify(bytes)}`);
      assert.ok(a.answers.length >= 1 || a.closed, `answered or closed: ${JSON.stringify(bytes)}`);
    }
    assert.equal(await handovers(fast) - before, odd.length, 'each connection was handed to node:http');
  });

  it('Connection: close and a request without Host end the connection after the answer, as node:http does', async () => {
    for (const bytes of [GET('/data?user_id=3', 'Connection: close\r\n'), 'GET /data?user_id=3 HTTP/1.1\r\n\r\n']) {
      const [a, b] = await Promise.all([exchange(port(fast), [bytes], 0, { waitMs: 1000 }), exchange(port(node), [bytes], 0, { waitMs: 1000 })]);
      assert.deepEqual(a.answers, b.answers);
      assert.equal(a.answers.length, 1);
      assert.ok(a.answers[0]?.headers.includes('Connection: close'), a.raw.toString('latin1'));
      assert.equal(a.closed, true, 'the server closed the connection');
      assert.equal(b.closed, true);
    }
  });

  it('pipelined reads are answered in order, and a write behind them is handed to node:http with its body', async () => {
    const body = '{"hello":"pipelined"}';
    const put = `PUT /v1/content/default/pipe-1 HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer fp-admin\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
    const r = await exchange(port(fast), [GET('/data?user_id=1') + GET('/data?user_id=999999') + GET('/data?user_id=2') + put], 4);
    assert.deepEqual(r.answers.map((a) => a.status), [200, 404, 200, 201], r.raw.toString('latin1'));
    const back = await exchange(port(fast), [GET('/v1/content/default/pipe-1')], 1);
    assert.deepEqual(back.answers.map((a) => [a.status, a.body]), [[200, body]]);
  });

  it('a request split across reads, and a slow one, are answered (node:http finishes reading them)', async () => {
    const r = await exchange(port(fast), ['GET /data?user_id=4 HT', 'TP/1.1\r\nHost: t\r\n', '\r\n'], 1, { gapMs: 50 });
    assert.deepEqual(r.answers.map((a) => a.status), [200]);
    const s = await exchange(port(fast), [GET('/data?user_id=4'), 'GET /data?user_id=5 HTTP/1.1\r\n', 'Host: t\r\n\r\n'], 2, { gapMs: 50 });
    assert.deepEqual(s.answers.map((a) => a.status), [200, 200]);
  });

  it('thousands of pipelined reads in one write are all answered, in order', async () => {
    const n = 3000;
    let bytes = '';
    for (let i = 0; i < n; i++) bytes += GET(`/data?user_id=${(i % 1000) + 1}`);
    const r = await exchange(port(fast), [bytes], n, { waitMs: undefined });
    assert.equal(r.answers.length, n);
    assert.ok(r.answers.every((a) => a.status === 200));
    // In order: answer i and answer i + 1000 are of the same id, neighbours are not.
    const etag = (i: number): string | undefined => r.answers[i]?.headers.find((h) => h.startsWith('ETag: '));
    for (const i of [0, 1, 500, 999, 1500]) {
      assert.equal(etag(i), etag(i + 1000), `answer ${i} and ${i + 1000}`);
      assert.notEqual(etag(i), etag(i + 1), `answer ${i} and ${i + 1}`);
    }
  });

  it('a client that half-closes after its request gets the answer, then the connection ends', async () => {
    const r = await exchange(port(fast), [GET('/data?user_id=6')], 0, { halfClose: true, waitMs: 2000 });
    assert.deepEqual(r.answers.map((a) => a.status), [200]);
    assert.equal(r.closed, true);
  });

  it('parse() takes only plain GET/HEAD reads, headers trimmed as node:http trims them', () => {
    const socket = {} as Socket;
    const ok = parse('GET /data?user_id=1 HTTP/1.1\r\nHost:  t \r\nAuthorization: Bearer x\t\r\nConnection: Keep-Alive\r\n', socket);
    assert.ok(ok);
    assert.equal(ok.req.method, 'GET');
    assert.equal(ok.req.url, '/data?user_id=1');
    assert.deepEqual(ok.req.rawHeaders, ['Host', 't', 'Authorization', 'Bearer x', 'Connection', 'Keep-Alive']);
    assert.equal(ok.req.headers.authorization, 'Bearer x');
    assert.equal(ok.keepAlive, true);
    assert.equal(parse('HEAD /v1/content/c/k HTTP/1.1\r\nHost: t\r\nConnection: close\r\n', socket)?.keepAlive, false);
    for (const head of [
      'POST /data?user_id=1 HTTP/1.1\r\nHost: t\r\n',
      'GET /metrics HTTP/1.1\r\nHost: t\r\n',
      'GET /data HTTP/1.0\r\nHost: t\r\n',
      'GET /data HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\n',
      'GET /data HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\n',
      'GET /data HTTP/1.1\r\nHost: t\r\nConnection: upgrade\r\n',
      'GET /data HTTP/1.1\r\nHost: t\r\ncontent-length: 0\r\n',
      'GET /data HTTP/1.1\r\n: empty-name\r\n',
      'GET /data HTTP/1.1\r\nNoColon\r\n',
      'GET /da\tta HTTP/1.1\r\nHost: t\r\n',
      'GET /data HTTP/1.1\r\nHost: t\rx\r\n',
    ]) assert.equal(parse(head, socket), undefined, JSON.stringify(head));
  });

  it('a stored Content-Type no validator saw is a 500 on the fast path, and the connection serves on', async () => {
    insertSqliteRows(fast.dataDir, [{ collection: 'default', key: 'bad-type', body: 'x', contentType: 'text/plain\r\nX-Injected: 1' }]);
    const before = await fastRequests(fast);
    const r = await exchange(port(fast), [GET('/data?user_id=bad-type') + GET('/data?user_id=12')], 2);
    assert.equal(await fastRequests(fast) - before, 2);
    assert.deepEqual(r.answers.map((a) => a.status), [500, 200], r.raw.toString('latin1'));
    assert.doesNotMatch(r.raw.toString('latin1'), /X-Injected/);
  });
});

describe('fast path: prebuilt refusals', () => {
  // --max-rss 1 puts every process over its memory watermark: every miss is refused with the prebuilt 503.
  let fast: TestApp;
  let node: TestApp;
  before(async () => {
    const args = ['--max-rss', '1'];
    [fast, node] = await Promise.all([startTestApp({ args }), startTestApp({ args: [...args, '--fast-path=false'] })]);
  });
  after(async () => {
    await fast?.close();
    await node?.close();
  });

  it('a refused miss gets the bytes node:http writes: GET, HEAD, Connection: close, pipelined, across a second', async () => {
    const [a, b] = await Promise.all([fast, node].map((app) => exchange(port(app), [GET('/data?user_id=31') + GET('/v1/content/default/32')], 2)));
    assert.deepEqual(a?.answers, b?.answers);
    assert.deepEqual(a?.answers.map((x) => x.status), [503, 503], a?.raw.toString('latin1'));
    assert.ok(a?.answers[0]?.headers.includes('X-Degraded-Reason: memory'));
    assert.match(a?.answers[0]?.body ?? '', /"FG_ERR_OVERLOADED"/);
    const head = await Promise.all([fast, node].map((app) => exchange(port(app), [`HEAD /data?user_id=33 HTTP/1.1\r\nHost: t\r\n\r\n`], 1, { head: true })));
    assert.deepEqual(head[0]?.answers, head[1]?.answers);
    assert.doesNotMatch(head[0]?.raw.toString('latin1') ?? '', /FG_ERR/, 'a HEAD refusal has no body');
    const close = await Promise.all([fast, node].map((app) => exchange(port(app), [GET('/data?user_id=34', 'Connection: close\r\n')], 1, { waitMs: 1500 })));
    assert.deepEqual(close[0]?.answers, close[1]?.answers);
    assert.equal(close[0]?.closed, true, 'the fast path ends the connection after a Connection: close refusal');
    assert.ok(close[0]?.answers[0]?.headers.includes('Connection: close'));
    // The bytes are rebuilt when the Date changes: two refusals a second apart carry their own Date.
    const dates: string[] = [];
    for (let i = 0; i < 2; i++) {
      const r = await exchange(port(fast), [GET('/data?user_id=35')], 1);
      dates.push(/\r\nDate: ([^\r]+)/.exec(r.raw.toString('latin1'))?.[1] ?? '');
      const expected = new Date().toUTCString();
      assert.ok(Math.abs(Date.parse(dates[i] as string) - Date.parse(expected)) <= 1000, `${dates[i]} vs ${expected}`);
      if (i === 0) await new Promise((r) => setTimeout(r, 1100));
    }
    assert.notEqual(dates[0], dates[1]);
    assert.equal(await counter(fast, 'floodgate_fast_path_handovers_total'), 0);
  });
});

describe('fast path timeouts, as node:http keeps them', () => {
  let fast: TestApp;
  let node: TestApp;
  before(async () => {
    const args = ['--headers-timeout', '300ms', '--keep-alive-timeout', '400ms'];
    [fast, node] = await Promise.all([startTestApp({ args }), startTestApp({ args: [...args, '--fast-path=false'] })]);
  });
  after(async () => {
    await fast?.close();
    await node?.close();
  });

  it('a connection that sends nothing gets the JSON 408 after the headers timeout, then is closed', async () => {
    const [a, b] = await Promise.all([exchange(port(fast), [], 0, { waitMs: 3000 }), exchange(port(node), [], 0, { waitMs: 3000 })]);
    assert.equal(b.closed, true, 'node:http closes it');
    assert.equal(a.closed, true, 'the fast path closes it');
    assert.deepEqual(a.answers, b.answers);
    assert.equal(a.answers[0]?.status, 408);
    assert.match(a.answers[0]?.body ?? '', /FG_ERR_REQUEST_TIMEOUT/);
  });

  it('an idle keep-alive connection is closed after the keep-alive timeout, without an answer', async () => {
    const [a, b] = await Promise.all([exchange(port(fast), [GET('/data?user_id=1')], 0, { waitMs: 3000 }), exchange(port(node), [GET('/data?user_id=1')], 0, { waitMs: 3000 })]);
    assert.equal(b.closed, true);
    assert.equal(a.closed, true);
    assert.deepEqual(a.answers.map((x) => x.status), [200]);
    assert.ok(a.answers[0]?.headers.includes('Keep-Alive: timeout=0'), a.raw.toString('latin1'));
    assert.deepEqual(a.answers, b.answers);
  });
});

describe('fast path: generated requests', () => {
  let fast: TestApp;
  let node: TestApp;
  before(async () => {
    [fast, node] = await Promise.all([startTestApp(), startTestApp({ args: ['--fast-path=false'] })]);
  });
  after(async () => {
    await fast?.close();
    await node?.close();
  });

  it('any request line and headers get the same answer with and without the fast path', async (t) => {
    const method = fc.constantFrom('GET', 'GET', 'GET', 'HEAD', 'get', 'POST', 'OPTIONS');
    const text = fc.string({ unit: fc.constantFrom(...'az09%&=+-_.~/?# \t:;,"\x01\x7f\xe9\u00ff'.split('')), maxLength: 12 });
    const target = fc.oneof(
      text.map((v) => `/data?user_id=${v}`),
      fc.integer({ min: 0, max: 1200 }).map((n) => `/data?user_id=${n}`),
      fc.tuple(text, text).map(([c, k]) => `/v1/content/${c}/${k}`),
      fc.constantFrom('/data', '/dataX', '/v1/content/default/5', '*', 'http://t/data?user_id=1', '/data?user_id=1#f'),
    );
    const version = fc.constantFrom('HTTP/1.1', 'HTTP/1.1', 'HTTP/1.1', 'HTTP/1.0', 'http/1.1', 'HTTP/1.1 ', 'HTTP/2.0');
    const name = fc.constantFrom('Host', 'host', 'HOST', 'X-A', 'Connection', 'If-None-Match', 'Authorization', 'Content-Length', 'Accept', 'X A', 'X:A', '', ' Host', 'X\u00e9');
    const value = fc.oneof(text, fc.constantFrom('close', 'keep-alive', 'Keep-Alive', 'upgrade', '0', 't', ' t ', '"x"'));
    const headers = fc.array(fc.tuple(name, value), { maxLength: 5 });
    const eol = fc.constantFrom('\r\n', '\r\n', '\r\n', '\n');
    await check(t, fc.asyncProperty(method, target, version, fc.boolean(), headers, eol, async (m, path, v, host, hs, nl) => {
      const lines = [`${m} ${path} ${v}`, ...(host ? ['Host: t'] : []), ...hs.map(([n, x]) => `${n}: ${x}`)];
      const bytes = Buffer.from(`${lines.join(nl)}${nl}${nl}`, 'latin1');
      const [a, b] = await Promise.all([exchange(port(fast), [bytes], 1, { waitMs: 400, head: m === 'HEAD' }), exchange(port(node), [bytes], 1, { waitMs: 400, head: m === 'HEAD' })]);
      assert.deepEqual(a.answers, b.answers, JSON.stringify(bytes.toString('latin1')));
    }), 0.2);
    assert.ok((await fastRequests(fast)) > 0, 'some generated requests were read by the fast path');
    assert.ok((await handovers(fast)) > 0, 'some were handed to node:http');
  });
});
