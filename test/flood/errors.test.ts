// Error classification: every way a request can fail lands in its own kind, and failures never count as successes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:https';
import { join } from 'node:path';
import { classifySocketError } from '../../src/flood/outcome.ts';
import { summarize } from '../../src/flood/result.ts';
import { freePort } from '../../src/common/processes.ts';
import { flood, startRawServer, startServer, tempDir } from './helpers.ts';

test('refused: nothing listens on the port', async () => {
  const port = await freePort(); // nothing listens on it
  const r = await flood({ url: `http://127.0.0.1:${port}/`, connections: '2', duration: '300ms' });
  assert.ok(r.counts.failures.refused > 0);
  assert.equal(r.counts.ok, 0);
  assert.equal(summarize(r).errors, summarize(r).hits);
});

test('response timeout: connected, but the server never answers', async () => {
  await using srv = await startServer(() => {
    // never answers
  });
  const r = await flood({ url: srv.url, connections: '2', requests: '2', timeout: '200ms' });
  assert.equal(r.counts.failures.timeout, 2);
  assert.equal(r.counts.failures['connect-timeout'], 0);
  assert.equal(summarize(r).timeouts, 2);
  assert.ok(r.histograms.failure.maxValue >= 190_000, 'failure latency is kept, in its own histogram');
  assert.equal(r.histograms.success.totalCount, 0);
});

test('connect timeout: TCP connects but the TLS handshake never completes', async () => {
  await using srv = await startRawServer(() => {
    // accepts the TCP connection, never answers the ClientHello
  });
  const r = await flood({ url: `https://127.0.0.1:${srv.port}/`, connections: '2', requests: '2', timeout: '200ms' });
  assert.equal(r.counts.failures['connect-timeout'], 2);
  assert.equal(summarize(r).timeouts, 2);
});

test('reset: the server resets the connection', async () => {
  await using srv = await startRawServer((socket) => {
    socket.once('data', () => socket.resetAndDestroy());
  });
  const r = await flood({ url: srv.url, connections: '2', requests: '6' });
  assert.equal(r.counts.failures.reset, 6);
});

test('closed: the server closes the connection before answering', async () => {
  await using srv = await startRawServer((socket) => {
    socket.once('data', () => socket.end());
  });
  const r = await flood({ url: srv.url, connections: '1', requests: '3' });
  assert.equal(r.counts.failures.closed, 3);
});

test('protocol: the bytes that come back are not HTTP', async () => {
  await using srv = await startRawServer((socket) => {
    socket.once('data', () => socket.write('SSH-2.0-OpenSSH_9.2\r\n'));
  });
  const r = await flood({ url: srv.url, connections: '1', requests: '2' });
  assert.equal(r.counts.failures.protocol, 2);
});

test('status codes are counted one by one; error statuses are errors with their own latency', async () => {
  let n = 0;
  await using srv = await startServer((_req, res) => {
    n++;
    res.statusCode = n % 4 === 0 ? 503 : n % 4 === 1 ? 404 : 200;
    res.end('x');
  });
  const r = await flood({ url: srv.url, connections: '1', requests: '100' });
  assert.deepEqual(r.counts.statuses, { '200': 50, '404': 25, '503': 25 });
  assert.equal(summarize(r).errors, 50);
  assert.equal(r.histograms.success.totalCount, 50);
  assert.equal(r.histograms.failure.totalCount, 50);
  const lenient = await flood({ url: srv.url, connections: '1', requests: '100', ok: '200-299,404' });
  assert.equal(summarize(lenient).errors, 25);
});

test('error codes map to kinds', () => {
  const e = (code: string): Error => Object.assign(new Error(code), { code });
  assert.equal(classifySocketError(e('ECONNREFUSED'), false), 'refused');
  assert.equal(classifySocketError(e('ECONNRESET'), false), 'reset');
  assert.equal(classifySocketError(e('EPIPE'), false), 'reset');
  assert.equal(classifySocketError(e('ENOTFOUND'), false), 'dns');
  assert.equal(classifySocketError(e('EAI_AGAIN'), false), 'dns');
  assert.equal(classifySocketError(e('DEPTH_ZERO_SELF_SIGNED_CERT'), true), 'tls');
  assert.equal(classifySocketError(e('ERR_SSL_WRONG_VERSION_NUMBER'), true), 'tls');
  assert.equal(classifySocketError(e('EHOSTUNREACH'), false), 'socket');
  assert.equal(classifySocketError(e('EWHATEVER'), true), 'tls');
});

function openssl(args: string[]): Promise<boolean> {
  return new Promise((resolve) => execFile('openssl', args, (err) => resolve(err === null)));
}

test('TLS: a self-signed certificate fails as tls, and --insecure accepts it (new connection per request too)', async (t) => {
  await using dir = await tempDir();
  const key = join(dir.path, 'key.pem');
  const cert = join(dir.path, 'cert.pem');
  const made = await openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=localhost']);
  if (!made) {
    t.skip('openssl is not installed');
    return;
  }
  const server = createServer({ key: await readFile(key), cert: await readFile(cert) }, (_req, res) => res.end('secure'));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  await using _closer = {
    [Symbol.asyncDispose]: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  const address = server.address();
  const url = `https://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}/`;
  const strict = await flood({ url, connections: '1', requests: '2' });
  assert.equal(strict.counts.failures.tls, 2);
  const insecure = await flood({ url, connections: '2', requests: '20', insecure: true });
  assert.equal(insecure.counts.ok, 20);
  assert.equal(insecure.counts.connects, 2, 'keep-alive: one handshake per connection');
  const fresh = await flood({ url, connections: '2', requests: '20', insecure: true, 'new-connection': true });
  assert.equal(fresh.counts.ok, 20);
  assert.equal(fresh.counts.connects, 20, '--new-connection: one handshake per request');
  assert.equal(fresh.histograms.connect.totalCount, 20);
});

test('--new-connection over plain HTTP opens one connection per request and says Connection: close', async () => {
  const seen: string[] = [];
  await using srv = await startServer((req, res) => {
    seen.push(req.headers.connection ?? '');
    res.end('ok');
  });
  const r = await flood({ url: srv.url, connections: '3', requests: '30', 'new-connection': true });
  assert.equal(r.counts.ok, 30);
  assert.equal(r.counts.connects, 30);
  assert.ok(seen.every((c) => c === 'close'));
});

test('--bail stops a run whose error rate runs away', async () => {
  await using srv = await startServer((_req, res) => {
    res.statusCode = 500;
    res.end('no');
  });
  const r = await flood({ url: srv.url, connections: '2', duration: '20s', bail: '50%' });
  assert.equal(r.stopped?.reason, 'bail');
  assert.ok(r.durationMs < 10_000, `stopped after ${r.durationMs} ms`);
});
