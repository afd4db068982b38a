// A body the server refuses (401, 403, 404, 405, 413) and will not read is not read and discarded either: the
// answer says Connection: close and the connection ends once it is flushed, so a client streaming a large body
// gets its JSON error and then the close, long before it has sent its body. A raw socket, so that nothing
// between the test and the server buffers, retries or hides the close.
import assert from 'node:assert/strict';
import { Agent, request } from 'node:http';
import { connect, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { startTestApp, type TestApp } from '../support/app.ts';

const TOKEN = 'refuse-t0ken';
/** The body the client offers: far more than the kernel's socket buffers (a few MiB on loopback) can hide. */
const OFFERED = 256 * 1024 * 1024;
const CHUNK = Buffer.alloc(64 * 1024, 0x61);

interface Outcome {
  /** What the server answered (status line, headers, body). */
  answer: string;
  /** Bytes of body the client managed to hand to its kernel before the connection ended. */
  sent: number;
  /** Bytes the server's socket read from the connection, request head included. */
  serverRead: number;
}

/** Sends `head`, then streams up to OFFERED bytes of body while reading the answer, until the connection ends. */
async function stream(app: TestApp, head: string, serverSockets: Socket[]): Promise<Outcome> {
  const before = serverSockets.length;
  const socket = connect(app.port, '127.0.0.1');
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  let answer = '';
  socket.on('data', (chunk: Buffer) => (answer += chunk.toString('latin1')));
  let ended = false;
  const closed = new Promise<void>((resolve) => {
    const done = (): void => {
      ended = true;
      resolve();
    };
    socket.once('close', done);
    socket.on('error', () => undefined); // EPIPE / ECONNRESET while still writing: the close is what is tested
  });
  socket.write(head);
  let sent = 0;
  while (!ended && sent < OFFERED) {
    if (!socket.write(CHUNK)) await Promise.race([new Promise((r) => socket.once('drain', r)), closed]);
    if (!ended) sent += CHUNK.length;
  }
  socket.end();
  await closed;
  const server = serverSockets[before];
  return { answer, sent, serverRead: server?.bytesRead ?? -1 };
}

describe('a refused request body ends the connection', () => {
  let app: TestApp;
  let closedWrites: TestApp;
  const sockets: Socket[] = [];
  const closedSockets: Socket[] = [];
  before(async () => {
    app = await startTestApp({ env: { FLOODGATE_ADMIN_TOKEN: TOKEN, FLOODGATE_SEED: '0' }, args: ['--body-limit', '1MiB', '--warmup', '0'] });
    app.server.on('connection', (s: Socket) => sockets.push(s));
    closedWrites = await startTestApp({ env: { FLOODGATE_SEED: '0' }, args: ['--warmup', '0'] });
    closedWrites.server.on('connection', (s: Socket) => closedSockets.push(s));
  });
  after(async () => {
    await app.close();
    await closedWrites.close();
  });

  const cases: [string, () => [TestApp, Socket[]], string, RegExp][] = [
    ['401 on an unauthenticated PUT (Content-Length)', () => [app, sockets], `PUT /v1/content/c/k HTTP/1.1\r\nHost: x\r\nContent-Length: ${OFFERED}\r\n\r\n`, /^HTTP\/1\.1 401 [^]*FG_ERR_UNAUTHORIZED/],
    ['401 on an unauthenticated chunked bulk POST', () => [app, sockets], 'POST /v1/content/c/_bulk HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n10000000\r\n', /^HTTP\/1\.1 401 [^]*FG_ERR_UNAUTHORIZED/],
    ['403 while writes are disabled', () => [closedWrites, closedSockets], `PUT /v1/content/c/k HTTP/1.1\r\nHost: x\r\nContent-Length: ${OFFERED}\r\n\r\n`, /^HTTP\/1\.1 403 [^]*FG_ERR_WRITES_DISABLED/],
    ['405 on a body sent to a read route', () => [app, sockets], `POST /data?user_id=1 HTTP/1.1\r\nHost: x\r\nContent-Length: ${OFFERED}\r\n\r\n`, /^HTTP\/1\.1 405 [^]*FG_ERR_METHOD_NOT_ALLOWED/],
    ['a read answered while its body is still arriving', () => [app, sockets], `GET /data?user_id=1 HTTP/1.1\r\nHost: x\r\nContent-Length: ${OFFERED}\r\n\r\n`, /^HTTP\/1\.1 404 [^]*FG_ERR_NOT_FOUND/],
    ['413 past the body limit, streamed without a length', () => [app, sockets], `PUT /v1/content/c/k HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TOKEN}\r\nTransfer-Encoding: chunked\r\n\r\n10000000\r\n`, /^HTTP\/1\.1 413 [^]*FG_ERR_BODY_TOO_LARGE/],
  ];
  for (const [name, target, head, expected] of cases) {
    it(name, async (t) => {
      const [server, list] = target();
      const out = await stream(server, head, list);
      t.diagnostic(`server read ${out.serverRead} bytes; client sent ${out.sent} of ${OFFERED}`);
      assert.match(out.answer, expected, 'the client sees the whole answer');
      assert.match(out.answer, /\r\nconnection: close\r\n/i);
      const body = out.answer.slice(out.answer.indexOf('\r\n\r\n') + 4);
      assert.doesNotThrow(() => JSON.parse(body), `a whole JSON body: ${body}`);
      // The server stopped reading: it took a few MiB at most (socket buffers, the body limit), not the 256 MiB offered.
      assert.ok(out.serverRead >= 0 && out.serverRead < 16 * 1024 * 1024, `the server read ${out.serverRead} bytes`);
      assert.ok(out.sent < OFFERED / 4, `the client sent ${out.sent} of ${OFFERED} bytes before the close`);
    });
  }
});

/** One request on `agent`; resolves with the status and the Connection header once the answer is read. */
function send(app: TestApp, agent: Agent, method: string, path: string, headers: Record<string, string> = {}, body?: string): Promise<{ status: number; connection: string | undefined }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: app.port, method, path, agent, headers }, (res) => {
      res.resume();
      res.once('end', () => resolve({ status: res.statusCode ?? 0, connection: res.headers.connection }));
    });
    req.once('error', reject);
    req.end(body);
  });
}

// The other side of the rule: a request without a body has nothing unread, so it keeps its connection. Node runs
// the request handler before it marks even a bodiless request complete, so req.complete alone closed the
// connection after every read answered synchronously (a fresh hit, a remembered 404).
describe('a request without a body keeps its connection', () => {
  let app: TestApp;
  const sockets: Socket[] = [];
  before(async () => {
    app = await startTestApp({ env: { FLOODGATE_ADMIN_TOKEN: TOKEN, FLOODGATE_SEED: '10' }, args: ['--warmup', '0'] });
    app.server.on('connection', (s: Socket) => sockets.push(s));
  });
  after(async () => {
    await app.close();
  });

  it('hits, misses, 404s, a 401 and a 405 on one keep-alive connection; a write with its body read too', async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const answers = [
        await send(app, agent, 'GET', '/data?user_id=1'), // a miss, loaded from the store
        await send(app, agent, 'GET', '/data?user_id=1'), // a fresh hit, answered synchronously
        await send(app, agent, 'HEAD', '/data?user_id=1'),
        await send(app, agent, 'GET', '/data?user_id=999999'), // 404
        await send(app, agent, 'GET', '/data?user_id=999999'), // a remembered 404
        await send(app, agent, 'DELETE', '/v1/content/default/1'), // 401, no body
        await send(app, agent, 'PATCH', '/data?user_id=1'), // 405, no body
        await send(app, agent, 'PUT', '/v1/content/c/k', { Authorization: `Bearer ${TOKEN}`, 'Content-Type': 'application/json' }, '{"a":1}'),
        await send(app, agent, 'GET', '/v1/content/c/k'),
      ];
      assert.deepEqual(answers.map((a) => a.status), [200, 200, 200, 404, 404, 401, 405, 201, 200]);
      assert.deepEqual(answers.filter((a) => a.connection === 'close'), [], 'no answer says Connection: close');
      assert.equal(sockets.length, 1, `${answers.length} requests took ${sockets.length} connections`);
    } finally {
      agent.destroy();
    }
  });
});
