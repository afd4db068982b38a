// The listening server: plain HTTP, or HTTPS with keep-alive and session resumption (TLS 1.3 tickets and
// TLS 1.2 session tickets, with one ticket key shared by every worker, so a client resumes on whichever worker
// its next connection lands). --tls-self-signed makes a certificate for localhost at start: with openssl when
// it is on PATH, else with node:crypto (an ECDSA P-256 key and a hand-encoded X.509 v3 certificate).
import { spawnSync } from 'node:child_process';
import { X509Certificate, createPrivateKey, generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { STATUS_CODES, createServer as createHttpServer, type RequestListener, type Server, type ServerOptions } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Config } from '../config.ts';
import { ERRORS, errorBody, type ErrorCode } from './errors.ts';
import { installFastPath } from './fast-path.ts';

export interface TlsFiles {
  readonly certFile: string;
  readonly keyFile: string;
  /** 48 bytes, hex: the session-ticket key every worker shares. */
  readonly ticketKeys: string;
  /** Set for a self-signed pair: the private temp folder holding it, removed at exit. */
  readonly temporaryDir?: string;
}

export interface TlsMaterial {
  readonly cert: Buffer;
  readonly key: Buffer;
  readonly ticketKeys: Buffer;
}

export class TlsConfigError extends Error {
  override readonly name = 'TlsConfigError';
}

/** Seconds a TLS session may be resumed. */
const SESSION_TIMEOUT_S = 300;

/**
 * Decides the TLS files once (in the primary, before the workers start): the configured pair, checked now so
 * a typo fails at start; or a fresh self-signed pair in a private temp folder. undefined = plain HTTP.
 */
export function prepareTls(config: Pick<Config, 'tlsCert' | 'tlsKey' | 'tlsSelfSigned'>, log: (msg: string) => void = () => undefined): TlsFiles | undefined {
  const ticketKeys = randomBytes(48).toString('hex');
  if (config.tlsCert !== '' || config.tlsKey !== '') {
    if (config.tlsCert === '' || config.tlsKey === '') throw new TlsConfigError('--tls-cert and --tls-key go together: give both, or neither');
    loadTls({ certFile: config.tlsCert, keyFile: config.tlsKey, ticketKeys });
    return { certFile: config.tlsCert, keyFile: config.tlsKey, ticketKeys };
  }
  if (!config.tlsSelfSigned) return undefined;
  const dir = mkdtempSync(join(tmpdir(), 'floodgate-tls-'));
  const files = { certFile: join(dir, 'cert.pem'), keyFile: join(dir, 'key.pem'), ticketKeys, temporaryDir: dir };
  if (generateWithOpenssl(files.certFile, files.keyFile)) log('self-signed certificate for localhost made with openssl');
  else {
    const { cert, key } = selfSignedCertificate('localhost');
    writeFileSync(files.keyFile, key, { mode: 0o600 });
    writeFileSync(files.certFile, cert);
    log('self-signed certificate for localhost made with node:crypto (openssl is not on PATH)');
  }
  return files;
}

/** Reads and checks the files (each worker does this itself: the key never travels between processes). */
export function loadTls(files: TlsFiles): TlsMaterial {
  let cert: Buffer;
  let key: Buffer;
  try {
    cert = readFileSync(files.certFile);
    key = readFileSync(files.keyFile);
  } catch (err) {
    throw new TlsConfigError(`cannot read the TLS certificate or key: ${(err as Error).message}`);
  }
  try {
    const x509 = new X509Certificate(cert);
    if (!x509.checkPrivateKey(createPrivateKey(key))) throw new TlsConfigError(`${files.keyFile} is not the key of ${files.certFile}`);
  } catch (err) {
    if (err instanceof TlsConfigError) throw err;
    throw new TlsConfigError(`bad TLS certificate or key (${files.certFile}, ${files.keyFile}): ${(err as Error).message}`);
  }
  return { cert, key, ticketKeys: Buffer.from(files.ticketKeys, 'hex') };
}

export type ServerLimits = Pick<Config, 'headersTimeout' | 'requestTimeout' | 'keepAliveTimeout' | 'maxHeaderSize'>;

/** createServerFor's limits and whether plain HTTP reads go through the fast path (fast-path.ts). */
export type ServerSetup = ServerLimits & Partial<Pick<Config, 'fastPath'>>;

/** An HTTP or HTTPS server with the slow-client limits; timeouts are checked every second. */
export function createServerFor(limits: ServerSetup, tls: TlsMaterial | undefined, handler: RequestListener): Server {
  const opts: ServerOptions = {
    keepAliveTimeout: limits.keepAliveTimeout,
    headersTimeout: limits.headersTimeout,
    requestTimeout: Math.max(limits.requestTimeout, limits.headersTimeout),
    maxHeaderSize: limits.maxHeaderSize,
    // A request without Host is refused by the router, with the JSON error every bad request gets.
    requireHostHeader: false,
    // Node checks the header and request timeouts on this period (default 30 s): a slowloris connection
    // would otherwise live up to 30 s past its timeout.
    connectionsCheckingInterval: Math.min(1000, Math.max(100, Math.floor(limits.headersTimeout / 4))),
  };
  if (tls === undefined) {
    const server = createHttpServer(opts, handler);
    if (limits.fastPath === true) installFastPath(server, handler, limits, REQUEST_TIMEOUT_ANSWER);
    return answerClientErrors(server);
  }
  const server = createHttpsServer({ ...opts, cert: tls.cert, key: tls.key, ticketKeys: tls.ticketKeys, sessionTimeout: SESSION_TIMEOUT_S }, handler);
  // Plain HTTP sent to this port: OpenSSL recognises the request line (ERR_SSL_HTTP_REQUEST). Answer a plain
  // 400 that says so on the TCP socket under the TLS one, instead of closing with an empty reply.
  server.on('tlsClientError', (err: NodeJS.ErrnoException, socket) => {
    const raw = (socket as unknown as { _parent?: Socket | null })._parent;
    if (err.code !== 'ERR_SSL_HTTP_REQUEST' || !raw || raw.destroyed) return;
    raw.end(PLAIN_HTTP_ANSWER);
  });
  return answerClientErrors(server);
}

/** A raw HTTP/1.1 answer with a JSON error body, closing the connection (the reason phrase is Node's own for the status). */
function rawAnswer(code: ErrorCode, message?: string): string {
  const body = errorBody(code, message);
  const status = ERRORS[code].status;
  return `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n${body}`;
}
const PLAIN_HTTP_ANSWER = rawAnswer('FG_ERR_BAD_REQUEST', 'This port speaks HTTPS: use https:// (plain HTTP was sent to a TLS port).');
const BAD_HTTP_ANSWER = rawAnswer('FG_ERR_BAD_REQUEST', 'The request is not valid HTTP/1.1 (a malformed request line, a header with a control character, a bad Content-Length or chunk).');
const HEADERS_TOO_LARGE_ANSWER = rawAnswer('FG_ERR_HEADERS_TOO_LARGE');
const REQUEST_TIMEOUT_ANSWER = rawAnswer('FG_ERR_REQUEST_TIMEOUT');

/**
 * Requests Node's parser rejects before the handler sees them are answered with the JSON error every other bad
 * request gets (Node's own answer is a bare status line), then the connection is closed. As in Node's default,
 * an answer is written only while nothing has been written on the connection (a rejected request pipelined
 * after answered ones closes it), and a reset connection is just dropped.
 */
export function answerClientErrors<S extends Server>(server: S): S {
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
    if (err.code !== 'ECONNRESET' && socket.writable && socket.bytesWritten === 0) {
      // Written, then closed once it is flushed (whatever the client does with its side).
      socket.write(err.code === 'HPE_HEADER_OVERFLOW' ? HEADERS_TOO_LARGE_ANSWER : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? REQUEST_TIMEOUT_ANSWER : BAD_HTTP_ANSWER);
      socket.destroySoon();
      return;
    }
    socket.destroy();
  });
  return server;
}

function generateWithOpenssl(certFile: string, keyFile: string): boolean {
  const r = spawnSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '30',
    '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1',
    '-keyout', keyFile, '-out', certFile,
  ], { stdio: 'ignore', timeout: 10_000 });
  return r.error === undefined && r.status === 0;
}

// --- a minimal DER encoder, enough for one self-signed certificate ---------------------------------------

function der(tag: number, ...parts: Buffer[]): Buffer {
  const body = Buffer.concat(parts);
  const n = body.length;
  const len = n < 0x80 ? Buffer.from([n]) : n < 0x100 ? Buffer.from([0x81, n]) : Buffer.from([0x82, n >> 8, n & 0xff]);
  return Buffer.concat([Buffer.from([tag]), len, body]);
}
const seq = (...p: Buffer[]): Buffer => der(0x30, ...p);
function oid(dotted: string): Buffer {
  const [a = 0, b = 0, ...rest] = dotted.split('.').map(Number);
  const bytes = [40 * a + b];
  for (const v of rest) {
    const chunk = [v & 0x7f];
    for (let x = v >>> 7; x > 0; x >>>= 7) chunk.unshift((x & 0x7f) | 0x80);
    bytes.push(...chunk);
  }
  return der(0x06, Buffer.from(bytes));
}
function utcTime(d: Date): Buffer {
  const s = d.toISOString().replace(/[-:T]/g, '').slice(2, 14);
  return der(0x17, Buffer.from(`${s}Z`));
}

/** A self-signed ECDSA P-256 certificate for `host` (and 127.0.0.1, ::1), valid 30 days, as PEM. */
export function selfSignedCertificate(host: string): { cert: string; key: string } {
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const ecdsaSha256 = seq(oid('1.2.840.10045.4.3.2'));
  const name = seq(der(0x31, seq(oid('2.5.4.3'), der(0x0c, Buffer.from(host)))));
  const serial = randomBytes(16);
  serial[0] = (serial[0] ?? 0) & 0x7f; // positive
  const now = Date.now();
  const san = seq(der(0x82, Buffer.from(host)), der(0x87, Buffer.from([127, 0, 0, 1])), der(0x87, Buffer.alloc(15), Buffer.from([1])));
  const extensions = der(0xa3, seq(seq(oid('2.5.29.17'), der(0x04, san))));
  const tbs = seq(
    der(0xa0, der(0x02, Buffer.from([2]))), // v3
    der(0x02, serial),
    ecdsaSha256,
    name,
    seq(utcTime(new Date(now - 60_000)), utcTime(new Date(now + 30 * 86_400_000))),
    name,
    publicKey.export({ type: 'spki', format: 'der' }),
    extensions,
  );
  const signature = sign('sha256', tbs, privateKey);
  const cert = seq(tbs, ecdsaSha256, der(0x03, Buffer.from([0]), signature));
  const pem = (label: string, b: Buffer): string => `-----BEGIN ${label}-----\n${b.toString('base64').replace(/.{64}/g, '$&\n').replace(/\n?$/, '\n')}-----END ${label}-----\n`;
  return { cert: pem('CERTIFICATE', cert), key: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() };
}
