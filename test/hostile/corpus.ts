// A corpus of malformed HTTP/1.1 requests, sent byte for byte over node:net (issue 14): framing and smuggling
// variants, bad request lines, huge and broken headers, NUL bytes, pipelining, half-closed sockets. Each case
// says what a correct server does: 'refuse' = answer 4xx or close, and never 2xx for the malformed request;
// 'answer' = the listed statuses, in order. Shared by test/hostile/raw-socket.test.ts and bench/faults.bench.ts.
import { connect } from 'node:net';

export interface RawCase {
  readonly name: string;
  /** Written in order, `gapMs` apart. */
  readonly chunks: readonly (string | Buffer)[];
  readonly gapMs?: number;
  /** Half-close (FIN) after the last chunk. */
  readonly halfClose?: boolean;
  readonly expect: 'refuse' | readonly number[];
  /** With a list of statuses: what follows them on the connection is malformed and must be refused. */
  readonly thenRefuse?: boolean;
}

const H = 'Host: localhost\r\n';
const GET = `GET /healthz HTTP/1.1\r\n${H}\r\n`;
const big = (n: number): string => 'a'.repeat(n);

export const CORPUS: readonly RawCase[] = [
  // framing and smuggling
  { name: 'Content-Length and Transfer-Encoding', chunks: [`POST /v1/content/a/_bulk HTTP/1.1\r\n${H}Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`], expect: 'refuse' },
  { name: 'two different Content-Lengths', chunks: [`PUT /v1/content/a/b HTTP/1.1\r\n${H}Content-Length: 1\r\nContent-Length: 2\r\n\r\nab`], expect: 'refuse' },
  { name: 'Content-Length with a sign', chunks: [`PUT /v1/content/a/b HTTP/1.1\r\n${H}Content-Length: +1\r\n\r\na`], expect: 'refuse' },
  { name: 'negative Content-Length', chunks: [`PUT /v1/content/a/b HTTP/1.1\r\n${H}Content-Length: -1\r\n\r\n`], expect: 'refuse' },
  { name: 'hex Content-Length', chunks: [`PUT /v1/content/a/b HTTP/1.1\r\n${H}Content-Length: 0x10\r\n\r\n`], expect: 'refuse' },
  { name: 'Content-Length list', chunks: [`PUT /v1/content/a/b HTTP/1.1\r\n${H}Content-Length: 1, 2\r\n\r\nab`], expect: 'refuse' },
  { name: 'huge Content-Length', chunks: [`PUT /v1/content/a/b HTTP/1.1\r\n${H}Content-Length: 99999999999999999999999\r\n\r\n`], expect: 'refuse' },
  { name: 'Transfer-Encoding: xchunked', chunks: [`POST /v1/content/a/_bulk HTTP/1.1\r\n${H}Transfer-Encoding: xchunked\r\n\r\n0\r\n\r\n`], expect: 'refuse' },
  { name: 'Transfer-Encoding: chunked, identity', chunks: [`POST /v1/content/a/_bulk HTTP/1.1\r\n${H}Transfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n`], expect: 'refuse' },
  { name: 'Transfer-Encoding with a space before the colon', chunks: [`POST /v1/content/a/_bulk HTTP/1.1\r\n${H}Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n`], expect: 'refuse' },
  { name: 'obs-fold Transfer-Encoding', chunks: [`POST /v1/content/a/_bulk HTTP/1.1\r\n${H}Transfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n`], expect: 'refuse' },
  { name: 'bad chunk size', chunks: [`POST /v1/content/a/_bulk HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n`], expect: 'refuse' },
  { name: 'chunk size overflow', chunks: [`POST /v1/content/a/_bulk HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\nffffffffffffffffffff\r\nabc\r\n`], expect: 'refuse' },
  { name: 'chunk without its CRLF', chunks: [`POST /v1/content/a/_bulk HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n3\r\nabcXX0\r\n\r\n`], expect: 'refuse' },
  { name: 'bare LF in chunk framing', chunks: [`POST /v1/content/a/_bulk HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n3\nabc\n0\n\n`], expect: 'refuse' },
  // request lines
  { name: 'empty request line', chunks: ['\r\n\r\n\r\n'], halfClose: true, expect: 'refuse' },
  { name: 'method only', chunks: ['GET\r\n\r\n'], expect: 'refuse' },
  { name: 'extra token in the request line', chunks: [`GET / HTTP/1.1 extra\r\n${H}\r\n`], expect: 'refuse' },
  { name: 'HTTP/9.9', chunks: [`GET /healthz HTTP/9.9\r\n${H}\r\n`], expect: 'refuse' },
  { name: 'lower-case method', chunks: [`get /healthz HTTP/1.1\r\n${H}\r\n`], expect: 'refuse' },
  { name: 'unknown method', chunks: [`FOO /healthz HTTP/1.1\r\n${H}\r\n`], expect: 'refuse' },
  { name: 'invalid method characters', chunks: [`G@T /healthz HTTP/1.1\r\n${H}\r\n`], expect: 'refuse' },
  { name: 'CONNECT', chunks: [`CONNECT 127.0.0.1:80 HTTP/1.1\r\n${H}\r\n`], expect: 'refuse' },
  { name: 'space in the target', chunks: [`GET /data?user_id=1 2 HTTP/1.1\r\n${H}\r\n`], expect: 'refuse' },
  { name: 'NUL in the target', chunks: [Buffer.from(`GET /data?user_id=1\u0000 HTTP/1.1\r\n${H}\r\n`, 'latin1')], expect: 'refuse' },
  { name: 'target of 100 KB', chunks: [`GET /data?user_id=${big(100_000)} HTTP/1.1\r\n${H}\r\n`], expect: 'refuse' },
  { name: 'binary garbage', chunks: [Buffer.from(Array.from({ length: 512 }, (_, i) => (i * 97 + 13) % 256))], expect: 'refuse' },
  { name: 'a TLS ClientHello on the plain port', chunks: [Buffer.from('16030100a5010000a10303', 'hex'), Buffer.alloc(160, 1)], expect: 'refuse' },
  { name: 'HTTP/2 preface', chunks: ['PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'], expect: 'refuse' },
  { name: 'HTTP/1.1 without Host', chunks: ['GET /healthz HTTP/1.1\r\n\r\n'], expect: 'refuse' },
  // headers
  { name: 'header without a colon', chunks: [`GET /healthz HTTP/1.1\r\n${H}NoColonHere\r\n\r\n`], expect: 'refuse' },
  { name: 'NUL in a header value', chunks: [Buffer.from(`GET /healthz HTTP/1.1\r\n${H}X-A: a\u0000b\r\n\r\n`, 'latin1')], expect: 'refuse' },
  { name: 'NUL in a header name', chunks: [Buffer.from(`GET /healthz HTTP/1.1\r\n${H}X-\u0000: a\r\n\r\n`, 'latin1')], expect: 'refuse' },
  { name: 'CR alone in a header', chunks: [`GET /healthz HTTP/1.1\r\n${H}X-A: a\rb\r\n\r\n`], expect: 'refuse' },
  { name: 'DEL in a header value', chunks: [`GET /healthz HTTP/1.1\r\n${H}X-A: a\u007fb\r\n\r\n`], expect: 'refuse' },
  { name: 'one header of 20 KB', chunks: [`GET /healthz HTTP/1.1\r\n${H}X-Big: ${big(20_000)}\r\n\r\n`], expect: 'refuse' },
  { name: '3000 small headers', chunks: [`GET /healthz HTTP/1.1\r\n${H}${Array.from({ length: 3000 }, (_, i) => `X-${i}: v\r\n`).join('')}\r\n`], expect: 'refuse' },
  { name: 'headers that never end (1 MB)', chunks: [`GET /healthz HTTP/1.1\r\n${H}`, ...Array.from({ length: 64 }, () => `X-Pad: ${big(16_000)}\r\n`)], expect: 'refuse' },
  // pipelining and half-closed sockets
  { name: 'three pipelined GETs', chunks: [GET + GET + GET], expect: [200, 200, 200] },
  { name: 'a GET, then garbage on the same connection', chunks: [`${GET}NOT HTTP\r\n\r\n`], expect: [200], thenRefuse: true },
  { name: '100 pipelined GETs', chunks: [GET.repeat(100)], expect: Array.from({ length: 100 }, () => 200) },
  { name: 'a GET, then half-closed', chunks: [GET], halfClose: true, expect: [200] },
  { name: 'half the headers, then half-closed', chunks: [`GET /healthz HTTP/1.1\r\n${H}X-A: `], halfClose: true, expect: 'refuse' },
  { name: 'a PUT whose body is cut short by a half-close', chunks: [`PUT /v1/content/a/b HTTP/1.1\r\n${H}Authorization: Bearer nope\r\nContent-Length: 100\r\n\r\nabc`], halfClose: true, expect: 'refuse' },
  { name: 'a GET sent a byte at a time', chunks: [...GET].map((c) => c), gapMs: 2, expect: [200] },
  { name: 'a body longer than its Content-Length, smuggling a second request', chunks: [`PUT /v1/content/a/b HTTP/1.1\r\n${H}Content-Length: 1\r\n\r\naGET /healthz HTTP/1.1\r\n${H}\r\n`], expect: [401, 200] },
  { name: 'Expect: 100-continue without credentials', chunks: [`PUT /v1/content/a/b HTTP/1.1\r\n${H}Expect: 100-continue\r\nContent-Length: 5\r\n\r\n`], halfClose: true, expect: [401] },
  { name: 'a WebSocket upgrade', chunks: [`GET /healthz HTTP/1.1\r\n${H}Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n`], expect: [200] }, // Upgrade ignored, as RFC 9110 allows
  { name: 'percent-encoded NUL in a key', chunks: [`GET /v1/content/a/%00 HTTP/1.1\r\n${H}\r\n`], expect: [400] },
  { name: 'invalid UTF-8 in a key', chunks: [`GET /v1/content/a/%FF%FE HTTP/1.1\r\n${H}\r\n`], expect: [400] },
  { name: 'raw Latin-1 bytes in the target', chunks: [Buffer.from(`GET /v1/content/a/\u00e9\u00ff HTTP/1.1\r\n${H}\r\n`, 'latin1')], expect: 'refuse' },
  { name: 'absolute-form target', chunks: [`GET http://evil.example/healthz HTTP/1.1\r\n${H}\r\n`], expect: 'refuse' },
  { name: 'asterisk-form target on GET', chunks: [`GET * HTTP/1.1\r\n${H}\r\n`], expect: 'refuse' },
  { name: 'HTTP/1.0 without Host', chunks: ['GET /healthz HTTP/1.0\r\n\r\n'], expect: [200] },
  { name: 'chunked PUT with trailers, no credentials', chunks: [`PUT /v1/content/a/b HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nX-Trailer: t\r\n\r\n`], halfClose: true, expect: [401] },
];

export interface RawResult {
  /** Status codes of the complete responses received, in order (100 Continue left out). */
  statuses: number[];
  /** Their bodies (Content-Length framed; '' for others), in the same order. */
  bodies: string[];
  /** The server closed the connection (FIN or RST) within the wait. */
  closed: boolean;
}

/** The statuses of the complete responses at the start of `buf` (Content-Length or chunked framing). */
export function parseResponses(buf: Buffer): number[] {
  return parseAnswers(buf).map((a) => a.status);
}

/** The complete responses at the start of `buf`: status, and body where Content-Length frames it. */
export function parseAnswers(buf: Buffer): { status: number; body: string }[] {
  const out: { status: number; body: string }[] = [];
  let at = 0;
  for (;;) {
    const end = buf.indexOf('\r\n\r\n', at);
    if (end === -1) return out;
    const head = buf.subarray(at, end).toString('latin1');
    const status = /^HTTP\/1\.[01] (\d{3})/.exec(head);
    if (!status) return out;
    const code = Number(status[1]);
    let next = end + 4;
    let body = '';
    const length = /\r\ncontent-length: *(\d+)/i.exec(head);
    if (length) {
      body = buf.subarray(next, next + Number(length[1])).toString('utf8');
      next += Number(length[1]);
    }
    else if (/\r\ntransfer-encoding: *chunked/i.test(head)) {
      for (;;) {
        const line = buf.indexOf('\r\n', next);
        if (line === -1) return out;
        const size = parseInt(buf.subarray(next, line).toString('latin1'), 16);
        next = line + 2 + size + 2;
        if (size === 0) break;
      }
    }
    if (next > buf.length) return out;
    if (code !== 100) out.push({ status: code, body });
    at = next;
  }
}

/**
 * Sends one case on a new connection and collects what comes back until the server closes, the case's
 * answers are all in, or `idleMs` passes without a byte (a server holding a malformed request open is seen
 * as not closing).
 */
export function sendRaw(port: number, c: RawCase, idleMs = 3000): Promise<RawResult> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    let received = Buffer.alloc(0);
    let timer: NodeJS.Timeout | undefined;
    let done = false;
    const finish = (closed: boolean): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      const answers = parseAnswers(received);
      resolve({ statuses: answers.map((a) => a.status), bodies: answers.map((a) => a.body), closed });
    };
    const idle = (): void => {
      clearTimeout(timer);
      timer = setTimeout(() => finish(false), idleMs);
    };
    socket.on('data', (d: Buffer) => {
      received = Buffer.concat([received, d]);
      const statuses = parseResponses(received);
      const enough = c.expect === 'refuse' ? statuses.some((s) => s >= 400) : !c.thenRefuse && statuses.length >= c.expect.length;
      if (enough) finish(false);
      else idle();
    });
    socket.on('error', () => finish(true));
    socket.on('close', () => finish(true));
    socket.on('connect', async () => {
      idle();
      for (const chunk of c.chunks) {
        if (socket.destroyed) break;
        socket.write(chunk);
        if (c.gapMs) await new Promise((r) => setTimeout(r, c.gapMs));
      }
      if (c.halfClose && !socket.destroyed) socket.end();
      idle();
    });
  });
}

/** Undefined when a result is what the case expects, else what went wrong. */
export function judgeRaw(c: RawCase, r: RawResult): string | undefined {
  const refused = (statuses: number[]): string | undefined => {
    if (statuses.some((s) => s < 400)) return `answered ${statuses.join(',')} to a malformed request`;
    if (statuses.some((s) => s >= 500)) return `a server error ${statuses.join(',')}`;
    if (statuses.length === 0 && !r.closed) return 'neither answered nor closed';
    // Every refusal says why, as JSON, whether the handler or Node's parser rejected the request.
    for (let i = r.statuses.length - statuses.length; i < r.statuses.length; i++) {
      const body = r.bodies[i] ?? '';
      let code: unknown;
      try {
        code = (JSON.parse(body) as { error?: { code?: unknown } }).error?.code;
      } catch {
        code = undefined;
      }
      if (typeof code !== 'string' || !code.startsWith('FG_ERR_')) return `refused ${r.statuses[i]} without a JSON error body: ${JSON.stringify(body.slice(0, 80))}`;
    }
    return undefined;
  };
  if (c.expect === 'refuse') return refused(r.statuses);
  const head = r.statuses.slice(0, c.expect.length).join(',');
  if (head !== c.expect.join(',')) return `expected ${c.expect.join(',')}, got ${r.statuses.join(',') || 'nothing'} (closed: ${r.closed})`;
  return c.thenRefuse ? refused(r.statuses.slice(c.expect.length)) : undefined;
}
