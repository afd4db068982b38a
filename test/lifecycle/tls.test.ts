// HTTPS: a self-signed certificate made at start, a given certificate and key, keep-alive, session resumption
// across workers (one shared ticket key), and a bad key refused at start.
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type TLSSocket } from 'node:tls';
import { after, describe, it } from 'node:test';
import { demoBody } from '../../src/content/demo.ts';
import { selfSignedCertificate } from '../../src/http/tls.ts';
import { startServe, type Server } from './helpers.ts';

const servers: Server[] = [];
const dir = mkdtempSync(join(tmpdir(), 'fg-tls-'));
after(async () => {
  await Promise.all(servers.map((s) => s.kill()));
  rmSync(dir, { recursive: true, force: true });
});

function httpsGet(url: string, agent: Agent, ca?: string): Promise<{ status: number; body: string; reused: boolean }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { agent, ...(ca ? { ca, servername: 'localhost' } : { rejectUnauthorized: false }) }, (res) => {
      let body = '';
      const reused = (res.socket as TLSSocket).isSessionReused();
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, reused }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** Opens `n` fresh TLS connections in a row, each offering the previous one's session; returns which resumed. */
async function resumptions(url: string, n: number): Promise<boolean[]> {
  const { hostname, port } = new URL(url);
  let session: Buffer | undefined;
  const out: boolean[] = [];
  for (let i = 0; i < n; i++) {
    const sock = connect({ host: hostname, port: Number(port), rejectUnauthorized: false, servername: 'localhost', ...(session ? { session } : {}) });
    sock.on('session', (s: Buffer) => (session = s));
    await new Promise<void>((resolve, reject) => sock.once('secureConnect', resolve).once('error', reject));
    out.push(sock.isSessionReused());
    sock.write('GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n');
    await new Promise((r) => sock.on('data', () => undefined).once('close', r));
  }
  return out;
}

describe('TLS', () => {
  it('node:crypto makes a valid self-signed certificate for localhost', () => {
    const { cert, key } = selfSignedCertificate('localhost');
    const x = new X509Certificate(cert);
    assert.equal(x.subject, 'CN=localhost');
    assert.match(x.subjectAltName ?? '', /DNS:localhost.*IP Address:127\.0\.0\.1/);
    assert.ok(x.verify(x.publicKey), 'self-signed');
    assert.match(key, /BEGIN PRIVATE KEY/);
  });

  it('--tls-self-signed serves HTTPS with keep-alive and resumes sessions on any worker', { timeout: 30_000 }, async () => {
    const s = await startServe(['--workers', '2', '--seed', '100', '--tls-self-signed']);
    servers.push(s);
    assert.match(s.url, /^https:\/\//);
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const a = await httpsGet(`${s.url}/data?user_id=5`, agent);
    const b = await httpsGet(`${s.url}/data?user_id=6`, agent);
    agent.destroy();
    assert.deepEqual([a.status, a.body, b.status, b.body], [200, demoBody(5), 200, demoBody(6)]);
    // Fresh connections alternate between the two workers; each after the first resumes the previous session.
    const reused = await resumptions(s.url, 5);
    assert.deepEqual(reused, [false, true, true, true, true]);
  });

  it('--tls-cert and --tls-key serve the given certificate', { timeout: 30_000 }, async () => {
    const { cert, key } = selfSignedCertificate('localhost');
    writeFileSync(join(dir, 'cert.pem'), cert);
    writeFileSync(join(dir, 'key.pem'), key);
    const s = await startServe(['--workers', '1', '--seed', '10'], { FLOODGATE_TLS_CERT: join(dir, 'cert.pem'), FLOODGATE_TLS_KEY: join(dir, 'key.pem') });
    servers.push(s);
    const agent = new Agent({ keepAlive: true });
    const r = await httpsGet(`${s.url}/data?user_id=3`, agent, cert); // verified against the given certificate
    agent.destroy();
    assert.deepEqual([r.status, r.body], [200, demoBody(3)]);
  });

  it('a key that does not match the certificate is refused at start', async () => {
    writeFileSync(join(dir, 'other-key.pem'), selfSignedCertificate('localhost').key);
    await assert.rejects(
      startServe(['--workers', '1', '--tls-cert', join(dir, 'cert.pem'), '--tls-key', join(dir, 'other-key.pem')]),
      /is not the key of/,
    );
  });
});
