import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MALFORMED, NEED_MORE, ResponseParser } from '../../src/common/response-parser.ts';

/** Feeds `text` split at every position (and byte by byte), checking each way gives the same answer. */
function parseAllWays(text: string, head = false): { status: number; keepAlive: boolean; end: number } {
  const bytes = Buffer.from(text, 'latin1');
  const answers: string[] = [];
  let first: { status: number; keepAlive: boolean; end: number } | null = null;
  const splits = [...Array(bytes.length + 1).keys()].map((i) => [i]);
  splits.push([...Array(bytes.length).keys()].slice(1)); // byte by byte
  for (const cuts of splits) {
    const p = new ResponseParser();
    p.reset(head);
    let at = 0;
    let end = NEED_MORE;
    for (const cut of [...cuts, bytes.length]) {
      if (cut < at) continue;
      // copy into a larger buffer with garbage after the slice: the parser must respect `end`
      const chunk = Buffer.concat([bytes.subarray(at, cut), Buffer.from('\n\n\nXXXX')]);
      const r = p.feed(chunk, 0, cut - at);
      if (r !== NEED_MORE) {
        end = r === MALFORMED ? MALFORMED : at + r;
        break;
      }
      at = cut;
    }
    const answer = { status: p.status, keepAlive: p.keepAlive, end };
    first ??= answer;
    answers.push(JSON.stringify(answer));
  }
  assert.equal(new Set(answers).size, 1, `every split gives the same result for ${JSON.stringify(text)}`);
  return first ?? { status: 0, keepAlive: false, end: NEED_MORE };
}

test('content-length response, split anywhere', () => {
  const text = 'HTTP/1.1 200 OK\r\nServer: x\r\nContent-Length: 5\r\n\r\nhello';
  assert.deepEqual(parseAllWays(text), { status: 200, keepAlive: true, end: text.length });
});

test('header names are matched without regard to case; other headers are skipped', () => {
  const text = 'HTTP/1.1 404 Not Found\r\ncontent-type: text/plain\r\nCONTENT-LENGTH:   3\r\nX-Content-Length: 99\r\n\r\nnop';
  assert.deepEqual(parseAllWays(text), { status: 404, keepAlive: true, end: text.length });
});

test('chunked body with extensions and trailers', () => {
  const text = 'HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n5;ext=1\r\nhello\r\nA\r\n0123456789\r\n0\r\nTrailer: x\r\n\r\n';
  assert.deepEqual(parseAllWays(text), { status: 200, keepAlive: true, end: text.length });
});

test('chunked without trailers', () => {
  const text = 'HTTP/1.1 201 Created\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n';
  assert.deepEqual(parseAllWays(text), { status: 201, keepAlive: true, end: text.length });
});

test('Connection: close ends keep-alive; HTTP/1.0 closes unless it says keep-alive', () => {
  assert.equal(parseAllWays('HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n').keepAlive, false);
  assert.equal(parseAllWays('HTTP/1.1 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 0\r\n\r\n').keepAlive, true);
  assert.equal(parseAllWays('HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n').keepAlive, false);
  assert.equal(parseAllWays('HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n').keepAlive, true);
});

test('responses without a body: HEAD, 204, 304', () => {
  const head = 'HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n';
  assert.equal(parseAllWays(head, true).end, head.length);
  const noContent = 'HTTP/1.1 204 No Content\r\nContent-Length: 10\r\n\r\n';
  assert.equal(parseAllWays(noContent).end, noContent.length);
  const notModified = 'HTTP/1.1 304 Not Modified\r\nETag: "x"\r\n\r\n';
  assert.equal(parseAllWays(notModified).end, notModified.length);
});

test('an interim 100 Continue is skipped and the final response parsed', () => {
  const text = 'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok';
  assert.deepEqual(parseAllWays(text), { status: 200, keepAlive: true, end: text.length });
});

test('a body without length runs to the end of the connection', () => {
  const p = new ResponseParser();
  p.reset(false);
  const b = Buffer.from('HTTP/1.1 200 OK\r\n\r\nsome body');
  assert.equal(p.feed(b, 0, b.length), NEED_MORE);
  assert.equal(p.finishAtEof(), true);
  assert.equal(p.keepAlive, false);
});

test('LF-only line ends are accepted', () => {
  const text = 'HTTP/1.1 200 OK\nContent-Length: 2\n\nok';
  assert.deepEqual(parseAllWays(text), { status: 200, keepAlive: true, end: text.length });
});

test('garbage is malformed, not a hang', () => {
  for (const text of ['SSH-2.0-OpenSSH\r\n', 'HTTP/2 200\r\n\r\n', 'HTTP/1.1 2x0 OK\r\n\r\n', 'HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n',
    'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n']) {
    const p = new ResponseParser();
    p.reset(false);
    const b = Buffer.from(text);
    assert.equal(p.feed(b, 0, b.length), MALFORMED, text);
  }
});

test('bytes after a complete response are reported by the returned index', () => {
  const p = new ResponseParser();
  p.reset(false);
  const b = Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokEXTRA');
  assert.equal(p.feed(b, 0, b.length), b.length - 5);
});
