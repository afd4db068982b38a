// Several listening sockets on one port (listen.ts): every connection reaches the one http.Server whichever
// socket the kernel gave it to, stopping accepting stops every socket, a port held by another process is
// refused instead of shared, and the socket count respects the open-files limit. Real sockets on loopback.
import assert from 'node:assert/strict';
import { createServer, get, type Server } from 'node:http';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import { REUSE_PORT_SUPPORTED, listenMany, listeningSockets, socketsFor, stopAccepting } from '../../src/http/listen.ts';

function fetchOnce(port: number): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    // A new connection each time (agent: false), so that the kernel picks a listening socket for each.
    get({ host: '127.0.0.1', port, path: '/', agent: false }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    }).once('error', reject);
  });
}

function connectError(port: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    get({ host: '127.0.0.1', port, path: '/', agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(undefined));
    }).once('error', (err: NodeJS.ErrnoException) => resolve(err.code));
  });
}

describe('listening on several sockets of one port', { skip: REUSE_PORT_SUPPORTED ? false : 'SO_REUSEPORT is Linux-only here' }, () => {
  it('every socket hands its connections to the one server; stopAccepting closes them all, open connections stay', async () => {
    const seen = new Set<number>();
    const server: Server = createServer((req, res) => {
      seen.add(req.socket.remotePort ?? 0);
      res.end('one server');
    });
    let connections = 0;
    server.on('connection', () => connections++);
    const port = await listenMany(server, { port: 0, host: '127.0.0.1', backlog: 511, sockets: 8 });
    assert.equal(listeningSockets(server), 8);
    const answers = await Promise.all(Array.from({ length: 200 }, () => fetchOnce(port)));
    assert.deepEqual(new Set(answers.map((a) => `${a.status} ${a.body}`)), new Set(['200 one server']));
    assert.equal(connections, 200, "every connection went through the server's 'connection' event");
    assert.equal(seen.size, 200);
    stopAccepting(server);
    assert.equal(listeningSockets(server), 0);
    assert.equal(await connectError(port), 'ECONNREFUSED', 'no socket of the group accepts any more');
    await new Promise<void>((r) => server.close(() => r()));
  });

  it('a port another process listens on with SO_REUSEPORT is refused, not shared', async () => {
    const other = createNetServer((s) => s.end('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nother'));
    await new Promise<void>((r) => other.listen({ port: 0, host: '127.0.0.1', reusePort: true }, () => r()));
    const port = (other.address() as AddressInfo).port;
    const server = createServer((_req, res) => res.end('mine'));
    await assert.rejects(listenMany(server, { port, host: '127.0.0.1', backlog: 511, sockets: 4 }), /EADDRINUSE/);
    assert.equal(listeningSockets(server), 0);
    await new Promise<void>((r) => other.close(() => r()));
  });

  it('one socket when asked for one (no SO_REUSEPORT: a second server on the port fails as it always did)', async () => {
    const server = createServer((_req, res) => res.end('x'));
    const port = await listenMany(server, { port: 0, host: '127.0.0.1', backlog: 511, sockets: 1 });
    assert.equal(listeningSockets(server), 1);
    const second = createNetServer();
    await assert.rejects(new Promise<void>((resolve, reject) => second.once('error', reject).listen({ port, host: '127.0.0.1', reusePort: true }, () => resolve())), /EADDRINUSE/);
    stopAccepting(server);
    await new Promise<void>((r) => server.close(() => r()));
  });
});

describe('how many sockets', () => {
  const limits = (soft: string): string => `Limit                     Soft Limit           Hard Limit           Units\nMax open files            ${soft}                 1048576              files\n`;
  it('as many as asked, at most an eighth of the open-files limit, at least one', { skip: REUSE_PORT_SUPPORTED ? false : 'Linux-only' }, () => {
    assert.equal(socketsFor(2048, limits('1048576')), 2048);
    assert.equal(socketsFor(2048, limits('1024')), 128);
    assert.equal(socketsFor(2048, limits('4')), 1);
    assert.equal(socketsFor(64, limits('unlimited')), 64);
    assert.equal(socketsFor(16, ''), 16, 'no /proc/self/limits: as asked');
  });
});
