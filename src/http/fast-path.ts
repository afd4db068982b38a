// A leaner HTTP/1.1 layer for the reads, in front of node:http. node:http costs a read about 14 µs of CPU on this
// machine's campaign shape (node:http + Map 30-32 µs a call against a minimal node:net responder's 16-18,
// docs/design-notes.md "What node:http costs a read"), more than floodgate's whole read path. No library answers
// plain HTTP/1.1 on node:net more cheaply and hands what it does not understand back to node:http (the fast
// servers of the field, uWebSockets.js and its wrappers, replace the server and its TLS, limits and parser as a
// whole, and are not on npm), so this is floodgate's own, and deliberately small:
//
// - It answers only what it can parse with certainty: a GET or HEAD of /data or /v1/content/..., HTTP/1.1,
//   request line and headers complete in what was read, printable ASCII only, no body (no Content-Length, no
//   Transfer-Encoding), no Expect or Upgrade, Connection absent, keep-alive or close, under --max-header-size.
// - Anything else (a write, /metrics, a request split across reads, a slowloris, HTTP/1.0, a malformed or
//   hostile request, TLS) is handed to node:http on the same connection at a request boundary, bytes included:
//   node:http's connection listener takes the socket, and the bytes read so far are fed to its parser before
//   anything else is read. From then on the connection is node:http's, with every limit and answer it had.
// - The request reaches the same handler as node:http's requests, through a request and a response object
//   that carry what the handler uses (routes.ts, read.ts, degrade.ts, respond.ts): the same validation of
//   header names and values (a stored Content-Type no validator saw still throws, and is answered 500), the
//   same Date, Connection and Keep-Alive headers, keep-alive and idle timeouts, Connection: close while the
//   server drains (drain.ts), one write a response.
//
// Answers are written in request order: the next request of a connection is read only once the current one is
// answered (pipelined bytes wait, and the socket is paused while a client sends more than PENDING_MAX ahead).
import { STATUS_CODES, validateHeaderName, validateHeaderValue, type IncomingMessage, type RequestListener, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { ServerLimits } from './tls.ts';

/** Bytes a client may send ahead of the answer it waits for before its socket is paused. */
const PENDING_MAX = 64 * 1024;
/** Headers beyond this count go to node:http (its own limit is 2,000). */
const MAX_HEADERS = 64;

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** Any byte that is not printable ASCII, a space, a tab, CR or LF: such a request goes to node:http. */
const UNUSUAL = /[^\t\r\n\x20-\x7e]/;

/** Request headers Node keeps once (the first) when a request repeats them; see IncomingMessage#headers. */
const FIRST_WINS = new Set(['age', 'authorization', 'content-length', 'content-type', 'etag', 'expires', 'from', 'host', 'if-modified-since', 'if-unmodified-since', 'last-modified', 'location', 'max-forwards', 'proxy-authorization', 'referer', 'retry-after', 'server', 'user-agent']);

const NO_HEADERS: readonly string[] = [];

let cachedDate: string | undefined;
function httpDate(): string {
  if (cachedDate === undefined) {
    const now = new Date();
    cachedDate = now.toUTCString();
    setTimeout(() => void (cachedDate = undefined), 1000 - now.getMilliseconds()).unref();
  }
  return cachedDate;
}

/** The header lines the server writes last, and the blank line that ends the head: Date, Connection, Keep-Alive. */
function closingLines(date: string, keepAlive: boolean, keepAliveHeader: string): string {
  return keepAlive ? `Date: ${date}\r\nConnection: keep-alive\r\n${keepAliveHeader}\r\n` : `Date: ${date}\r\nConnection: close\r\n\r\n`;
}

/** The request as the handler sees it: the fields of IncomingMessage that floodgate's read path reads. */
export class FastRequest {
  readonly method: string;
  readonly url: string;
  readonly rawHeaders: string[];
  readonly socket: Socket;
  readonly httpVersion = '1.1';
  readonly httpVersionMajor = 1;
  readonly httpVersionMinor = 1;
  /** No body: the request was complete when it was read. */
  readonly complete = true;
  #headers: Record<string, string | string[]> | undefined;

  constructor(method: string, url: string, rawHeaders: string[], socket: Socket) {
    this.method = method;
    this.url = url;
    this.rawHeaders = rawHeaders;
    this.socket = socket;
  }

  get connection(): Socket {
    return this.socket;
  }

  /** Lower-case names; repeated headers joined as Node joins them (set-cookie an array, FIRST_WINS the first). */
  get headers(): Record<string, string | string[]> {
    if (this.#headers === undefined) {
      const h: Record<string, string | string[]> = Object.create(null) as Record<string, string | string[]>;
      const raw = this.rawHeaders;
      for (let i = 0; i < raw.length; i += 2) {
        const name = (raw[i] as string).toLowerCase();
        const value = raw[i + 1] as string;
        const had = h[name];
        if (had === undefined) h[name] = name === 'set-cookie' ? [value] : value;
        else if (Array.isArray(had)) had.push(value);
        else if (!FIRST_WINS.has(name)) h[name] = name === 'cookie' ? `${had}; ${value}` : `${had}, ${value}`;
      }
      this.#headers = h;
    }
    return this.#headers;
  }
}

/** The answer: writeHead (a flat array or an object of headers), setHeader before it, end; one socket write. */
export class FastResponse {
  readonly req: FastRequest;
  readonly #conn: Conn;
  statusCode = 200;
  headersSent = false;
  writableEnded = false;
  shouldKeepAlive: boolean;
  /** The header block written (routes.ts's --log-requests reads it, as it reads node:http's). */
  _header: string | null = null;
  #set: [string, string][] | undefined;
  /** The status line and the handler's headers, once writeHead ran. */
  #lines = '';
  #lengthGiven = false;
  #bodyless = false;

  constructor(req: FastRequest, conn: Conn, keepAlive: boolean) {
    this.req = req;
    this.#conn = conn;
    this.shouldKeepAlive = keepAlive;
  }

  get destroyed(): boolean {
    return this.#conn.socket.destroyed;
  }

  setHeader(name: string, value: string | number): this {
    if (this.headersSent) throw Object.assign(new Error('Cannot set headers after they are sent to the client'), { code: 'ERR_HTTP_HEADERS_SENT' });
    validateHeaderName(name);
    validateHeaderValue(name, value as string);
    const set = (this.#set ??= []);
    const lower = name.toLowerCase();
    for (let i = 0; i < set.length; i++) {
      if ((set[i] as [string, string])[0].toLowerCase() === lower) {
        set.splice(i, 1);
        break;
      }
    }
    set.push([name, String(value)]);
    return this;
  }

  writeHead(status: number, headers?: readonly (string | number)[] | Record<string, string | number | undefined>): this {
    if (this.headersSent) throw Object.assign(new Error('Cannot write headers after they are sent to the client'), { code: 'ERR_HTTP_HEADERS_SENT' });
    // The flat array the read path passes is used as it is; an object (the JSON answers) is flattened once.
    let given: readonly (string | number | undefined)[] = NO_HEADERS;
    if (Array.isArray(headers)) {
      if (headers.length % 2 !== 0) throw new TypeError('writeHead: the header array must hold name, value pairs');
      given = headers;
    } else if (headers !== undefined) {
      const flat: (string | number | undefined)[] = [];
      for (const name of Object.keys(headers)) flat.push(name, (headers as Record<string, string | number | undefined>)[name]);
      given = flat;
    }
    let lines = '';
    const set = this.#set;
    if (set !== undefined) {
      // setHeader's headers first, unless writeHead names them too (node:http's order and precedence).
      for (const [name, value] of set) {
        const lower = name.toLowerCase();
        let overridden = false;
        for (let i = 0; i < given.length; i += 2) if (String(given[i]).toLowerCase() === lower) overridden = true;
        if (!overridden) lines += this.#line(name, value);
      }
    }
    for (let i = 0; i < given.length; i += 2) lines += this.#line(String(given[i]), given[i + 1]);
    this.#lines = `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'unknown'}\r\n${lines}`;
    this.#bodyless = this.req.method === 'HEAD' || status === 204 || status === 304 || status < 200;
    this.statusCode = status;
    this.headersSent = true;
    return this;
  }

  /** One header line, validated as node:http validates it; Content-Length is noted, Connection is the server's ('' for it). */
  #line(name: string, value: string | number | undefined): string {
    validateHeaderName(name);
    validateHeaderValue(name, value as string);
    const v = typeof value === 'string' ? value : String(value);
    if (name.length === 14 && name.toLowerCase() === 'content-length') this.#lengthGiven = true;
    else if (name.length === 10 && name.toLowerCase() === 'connection') {
      // The server writes Connection itself; "close" from the handler ends the connection after this answer.
      if (v.toLowerCase() === 'close') this.shouldKeepAlive = false;
      return '';
    }
    return `${name}: ${v}\r\n`;
  }

  end(body?: string | Buffer): this {
    if (this.writableEnded) return this;
    if (!this.headersSent) this.writeHead(this.statusCode);
    this.writableEnded = true;
    const data = this.#bodyless || body === undefined ? undefined : body;
    const bodyBytes = data === undefined ? 0 : typeof data === 'string' ? Buffer.byteLength(data) : data.length;
    let head = this.#lines;
    if (!this.#lengthGiven && !this.#bodyless) head += `Content-Length: ${bodyBytes}\r\n`;
    this.shouldKeepAlive = this.shouldKeepAlive && this.#conn.keepAlive();
    head += closingLines(httpDate(), this.shouldKeepAlive, this.#conn.keepAliveHeader);
    this._header = head;
    const out = Buffer.allocUnsafe(head.length + bodyBytes);
    out.write(head, 0, 'latin1');
    if (typeof data === 'string') out.write(data, head.length, 'utf8');
    else if (data !== undefined) data.copy(out, head.length);
    this.#conn.answered(this, out);
    return this;
  }

  /**
   * Writes a prebuilt answer whole: the same bytes for every request it answers within a second (see Prebuilt).
   * Headers set with setHeader before it are kept, through writeHead and end.
   */
  endPrebuilt(answer: Prebuilt): this {
    if (this.writableEnded) return this;
    if (this.headersSent || this.#set !== undefined) {
      if (!this.headersSent) this.writeHead(answer.status, answer.headers);
      return this.end(answer.body);
    }
    const keepAlive = this.shouldKeepAlive && this.#conn.keepAlive();
    this.shouldKeepAlive = keepAlive;
    this.statusCode = answer.status;
    this.headersSent = true;
    this.writableEnded = true;
    this._header = answer.head;
    this.#conn.answered(this, answer.bytes(this.#conn.keepAliveHeader, keepAlive, this.req.method === 'HEAD'));
    return this;
  }

  destroy(): void {
    this.#conn.socket.destroy();
  }
}

/**
 * An answer built once: a status, headers validated once, a body. On the fast path it is written as one buffer,
 * the same bytes for every request it answers within a second (rebuilt when the Date changes), so answering it
 * costs a lookup and a socket write: what a refusal under overload must cost (docs/design-notes.md, "What a
 * refusal must cost"). node:http's responses get writeHead and end (sendPrebuilt in respond.ts).
 */
export class Prebuilt {
  readonly status: number;
  /** The headers as a flat array (Content-Length included), for node:http. */
  readonly headers: string[];
  readonly body: Buffer;
  /** The status line and header lines, without Date and Connection (FastResponse#_header of its answers). */
  readonly head: string;
  readonly #bodyless: boolean;
  #date = '';
  #keepAliveHeader = '';
  /** This second's bytes: [keep-alive, keep-alive HEAD, close, close HEAD]. */
  #bytes: (Buffer | undefined)[] = [];

  constructor(status: number, headers: readonly string[], body: Buffer) {
    if (headers.length % 2 !== 0) throw new TypeError('Prebuilt: the header array must hold name, value pairs');
    let lines = `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'unknown'}\r\n`;
    let lengthGiven = false;
    for (let i = 0; i < headers.length; i += 2) {
      const name = headers[i] as string;
      const value = headers[i + 1] as string;
      validateHeaderName(name);
      validateHeaderValue(name, value);
      const lower = name.toLowerCase();
      if (lower === 'connection' || lower === 'date') throw new TypeError(`Prebuilt: ${name} is the server's to write`);
      if (lower === 'content-length') lengthGiven = true;
      lines += `${name}: ${value}\r\n`;
    }
    this.#bodyless = status === 204 || status === 304 || status < 200;
    const all = [...headers];
    if (!lengthGiven && !this.#bodyless) {
      all.push('Content-Length', String(body.length));
      lines += `Content-Length: ${body.length}\r\n`;
    }
    this.status = status;
    this.headers = all;
    this.body = body;
    this.head = lines;
  }

  /** The whole answer for a connection kept alive or not, to a HEAD or not. */
  bytes(keepAliveHeader: string, keepAlive: boolean, head: boolean): Buffer {
    const date = httpDate();
    if (date !== this.#date || keepAliveHeader !== this.#keepAliveHeader) {
      this.#date = date;
      this.#keepAliveHeader = keepAliveHeader;
      this.#bytes = [];
    }
    const i = (keepAlive ? 0 : 2) + (head ? 1 : 0);
    let out = this.#bytes[i];
    if (out === undefined) {
      const text = this.head + closingLines(date, keepAlive, keepAliveHeader);
      out = head || this.#bodyless ? Buffer.from(text, 'latin1') : Buffer.concat([Buffer.from(text, 'latin1'), this.body]);
      this.#bytes[i] = out;
    }
    return out;
  }
}

/** One connection the fast path reads. */
class Conn {
  readonly socket: Socket;
  readonly #path: FastPath;
  /** Bytes read and not yet parsed (a pipelined request waiting for the answer before it). */
  #pending: Buffer | undefined;
  /** The request being answered, or undefined. */
  #current: FastResponse | undefined;
  #served = 0;
  #looping = false;
  #clientEnded = false;
  #gone = false;
  readonly keepAliveHeader: string;
  readonly #onData = (chunk: Buffer): void => this.#data(chunk);
  readonly #onEnd = (): void => {
    this.#clientEnded = true;
    if (this.#current === undefined && this.#pending === undefined) this.socket.end();
  };
  readonly #onTimeout = (): void => this.#timeout();
  readonly #onError = (): void => {
    this.socket.destroy();
  };
  readonly #onDrain = (): void => this.#loop();
  readonly #onClose = (): void => {
    this.#gone = true;
    this.#path.conns.delete(this);
  };

  /** Every socket listener of this connection: added by the constructor, taken off by the hand-over. */
  readonly #listeners: readonly [string, (chunk: Buffer) => void][] = [
    ['data', this.#onData], ['end', this.#onEnd], ['timeout', this.#onTimeout], ['error', this.#onError], ['drain', this.#onDrain], ['close', this.#onClose],
  ];

  constructor(socket: Socket, path: FastPath) {
    this.socket = socket;
    this.#path = path;
    this.keepAliveHeader = path.keepAliveHeader;
    for (const [event, fn] of this.#listeners) socket.on(event, fn);
    socket.setTimeout(path.limits.headersTimeout);
  }

  get idle(): boolean {
    return this.#current === undefined;
  }

  /** Whether the next answer may keep the connection: not while the server drains (it stopped listening). */
  keepAlive(): boolean {
    return this.#path.server.listening && !this.#clientEnded;
  }

  #data(chunk: Buffer): void {
    const pending = this.#pending;
    this.#pending = pending === undefined ? chunk : Buffer.concat([pending, chunk]);
    if (this.#current !== undefined) {
      if (this.#pending.length > PENDING_MAX) this.socket.pause();
      return;
    }
    this.#loop();
  }

  /** Answers the complete requests read so far, one at a time; hands the connection over at the first other thing. */
  #loop(): void {
    if (this.#looping) return;
    this.#looping = true;
    try {
      while (this.#current === undefined && this.#pending !== undefined && !this.#gone) {
        if (this.socket.writableNeedDrain) return; // resumed by 'drain'
        const buf = this.#pending;
        const end = buf.indexOf('\r\n\r\n');
        if (end === -1 || end + 4 > this.#path.limits.maxHeaderSize) {
          this.#handOver(buf);
          return;
        }
        const request = parse(buf.toString('latin1', 0, end + 2), this.socket);
        if (request === undefined) {
          this.#handOver(buf);
          return;
        }
        this.#pending = end + 4 === buf.length ? undefined : buf.subarray(end + 4);
        if (this.socket.isPaused() && (this.#pending === undefined || this.#pending.length <= PENDING_MAX)) this.socket.resume();
        this.#path.requests++;
        const res = new FastResponse(request.req, this, request.keepAlive);
        this.#current = res;
        try {
          this.#path.handler(request.req as unknown as IncomingMessage, res as unknown as ServerResponse);
        } catch {
          // The handler answers its own errors; one that escapes it leaves nothing sane to write.
          this.socket.destroy();
          return;
        }
      }
      if (this.#current === undefined && this.#clientEnded && !this.#gone) this.socket.end();
    } finally {
      this.#looping = false;
    }
  }

  /** An answer is complete: one write, then the next request (or the end of the connection). */
  answered(res: FastResponse, out: Buffer): void {
    if (res !== this.#current) return;
    const socket = this.socket;
    if (!socket.destroyed) {
      if (res.shouldKeepAlive) {
        socket.write(out);
        if (this.#served++ === 0) socket.setTimeout(this.#path.limits.keepAliveTimeout);
      } else {
        socket.end(out);
        this.#gone = true;
      }
    }
    this.#current = undefined;
    this.#loop();
  }

  #timeout(): void {
    if (this.#current !== undefined) return; // the read's own deadline answers it
    if (this.#served === 0 && this.socket.bytesWritten === 0) {
      this.socket.end(this.#path.timeoutAnswer);
      this.#gone = true;
      return;
    }
    this.socket.destroy();
  }

  /** node:http takes the connection from here, with the bytes not yet parsed. */
  #handOver(bytes: Buffer): void {
    const socket = this.socket;
    for (const [event, fn] of this.#listeners) socket.off(event, fn);
    socket.setTimeout(0);
    this.#gone = true;
    this.#pending = undefined;
    this.#path.conns.delete(this);
    this.#path.handovers++;
    this.#path.nodeListener.call(this.#path.server, socket);
    if (socket.isPaused()) socket.resume();
    // node:http's parser gets these bytes before anything read after them: synchronously, through the data
    // listener it just added (the way it reads every chunk not consumed by its native parser).
    socket.emit('data', bytes);
  }
}

interface Parsed {
  req: FastRequest;
  keepAlive: boolean;
}

/**
 * The request in `head` (the request line and headers, each line ending in CRLF, latin1), or undefined when it is
 * anything but a plain GET or HEAD of a read route this layer answers (see the top of the file).
 */
export function parse(head: string, socket: Socket): Parsed | undefined {
  if (UNUSUAL.test(head)) return undefined;
  const lineEnd = head.indexOf('\r\n');
  const sp = head.indexOf(' ');
  if (sp === -1 || sp > lineEnd) return undefined;
  const method = sp === 3 && head.startsWith('GET') ? 'GET' : sp === 4 && head.startsWith('HEAD') ? 'HEAD' : undefined;
  if (method === undefined) return undefined;
  const targetEnd = lineEnd - 9;
  if (targetEnd <= sp + 1 || !head.startsWith(' HTTP/1.1', targetEnd)) return undefined;
  const url = head.slice(sp + 1, targetEnd);
  if (!(url.startsWith('/data') || url.startsWith('/v1/content/')) || url.indexOf(' ') !== -1 || url.indexOf('\t') !== -1) return undefined;
  const rawHeaders: string[] = [];
  let keepAlive = true;
  let pos = lineEnd + 2;
  while (pos < head.length) {
    const eol = head.indexOf('\r\n', pos);
    const colon = head.indexOf(':', pos);
    if (colon === -1 || colon > eol || colon === pos) return undefined; // no name, or an obs-fold continuation
    const name = head.slice(pos, colon);
    if (!TOKEN.test(name)) return undefined;
    let vs = colon + 1;
    let ve = eol;
    while (vs < ve && (head.charCodeAt(vs) === 32 || head.charCodeAt(vs) === 9)) vs++;
    while (ve > vs && (head.charCodeAt(ve - 1) === 32 || head.charCodeAt(ve - 1) === 9)) ve--;
    const value = head.slice(vs, ve);
    if (value.indexOf('\r') !== -1 || value.indexOf('\n') !== -1) return undefined;
    switch (name.length) {
      case 6: // expect
      case 7: // upgrade
      case 14: // content-length
      case 17: { // transfer-encoding
        const lower = name.toLowerCase();
        if (lower === 'expect' || lower === 'upgrade' || lower === 'content-length' || lower === 'transfer-encoding') return undefined;
        break;
      }
      case 10: // connection
        if (name.toLowerCase() === 'connection') {
          const v = value.toLowerCase();
          if (v === 'close') keepAlive = false;
          else if (v !== 'keep-alive') return undefined;
        }
        break;
    }
    rawHeaders.push(name, value);
    if (rawHeaders.length > 2 * MAX_HEADERS) return undefined;
    pos = eol + 2;
  }
  return { req: new FastRequest(method, url, rawHeaders, socket), keepAlive };
}

/** What the server needs of the fast path: its open connections, for drains and closes. */
export class FastPath {
  readonly server: Server;
  readonly handler: RequestListener;
  readonly limits: ServerLimits;
  readonly nodeListener: (socket: Socket) => void;
  readonly keepAliveHeader: string;
  /** Written to a connection that sent no request within the headers timeout (node:http's 408, tls.ts). */
  readonly timeoutAnswer: string;
  readonly conns = new Set<Conn>();
  /** Requests answered here, and connections handed to node:http (floodgate_fast_path_*_total). */
  requests = 0;
  handovers = 0;

  constructor(server: Server, handler: RequestListener, limits: ServerLimits, nodeListener: (socket: Socket) => void, timeoutAnswer: string) {
    this.server = server;
    this.timeoutAnswer = timeoutAnswer;
    this.handler = handler;
    this.limits = limits;
    this.nodeListener = nodeListener;
    this.keepAliveHeader = `Keep-Alive: timeout=${Math.floor(limits.keepAliveTimeout / 1000)}\r\n`;
  }
}

/**
 * Puts the fast path in front of a plain-HTTP node:http server whose request listener is `handler`: every new
 * connection is read here first (see the top of the file). Call before any other 'connection' listener is added
 * that must see the socket first; listeners added after still see every connection.
 */
export function installFastPath(server: Server, handler: RequestListener, limits: ServerLimits, timeoutAnswer: string): FastPath {
  const listeners = server.listeners('connection') as ((socket: Socket) => void)[];
  const nodeListener = listeners[0];
  if (listeners.length !== 1 || nodeListener === undefined) throw new Error('installFastPath: expected node:http\'s own connection listener only');
  server.removeListener('connection', nodeListener);
  const path = new FastPath(server, handler, limits, nodeListener, timeoutAnswer);
  server.on('connection', (socket: Socket) => {
    path.conns.add(new Conn(socket, path));
  });
  // Node's own idle/all closing knows only its connections: cover the fast path's too (server.close() calls
  // closeIdleConnections, drain.ts calls it after its grace period).
  const closeIdle = server.closeIdleConnections.bind(server);
  server.closeIdleConnections = (): void => {
    closeIdle();
    for (const c of path.conns) if (c.idle) c.socket.destroy();
  };
  const closeAll = server.closeAllConnections.bind(server);
  server.closeAllConnections = (): void => {
    closeAll();
    for (const c of path.conns) c.socket.destroy();
  };
  installed.set(server, path);
  return path;
}

const installed = new WeakMap<Server, FastPath>();

/** The fast path in front of `server`, if it has one. */
export function fastPathOf(server: Server): FastPath | undefined {
  return installed.get(server);
}
