// One client connection: raw net/tls socket, a pre-built request written as is, the response parsed in place.
// A connection carries one request at a time (no pipelining). It reports each outcome to its owner (the thread
// engine), which records it and decides what the connection does next. Timeouts are not timers: the owner's
// clock-driven scheduler calls `expire()` on connections whose deadline has passed.
import net from 'node:net';
import tls from 'node:tls';
import { performance } from 'node:perf_hooks';
import { MALFORMED, NEED_MORE, ResponseParser } from '../common/response-parser.ts';
import { classifySocketError, type ErrorKind } from './outcome.ts';
import type { RequestFactory } from './request.ts';

export interface ConnectionOwner {
  /** A complete response arrived at `now`. */
  onResponse(conn: Connection, status: number, now: number): void;
  /** The request failed at `now`; the connection is closed and can be reused (it reconnects). */
  onFailure(conn: Connection, kind: ErrorKind, now: number): void;
  /** A connection (and TLS handshake) was established after `ms`. */
  onConnect(ms: number): void;
  onBytes(read: number, written: number): void;
}

export interface Endpoint {
  readonly tls: boolean;
  /** Resolved address to connect to, or null when the name did not resolve (every attempt fails as `dns`). */
  readonly address: string | null;
  readonly port: number;
  /** TLS server name (SNI), when the host is a name rather than an address. */
  readonly servername: string | undefined;
  readonly insecure: boolean;
  /** Close the connection after every response (--new-connection). */
  readonly fresh: boolean;
}

export class Connection {
  /** When the current request is due (open model) or was issued (closed model), performance.now() ms. */
  due = 0;
  /** When the current request was issued (before any connect it needed). */
  issued = 0;
  /** Past this moment the current request has timed out. */
  deadline = Number.POSITIVE_INFINITY;
  busy = false;

  readonly #endpoint: Endpoint;
  readonly #factory: RequestFactory;
  readonly #owner: ConnectionOwner;
  readonly #readBuffer: Buffer;
  readonly #timeoutMs: number;
  readonly #parser = new ResponseParser();
  #socket: net.Socket | null = null;
  #connected = false;
  #connectStarted = 0;
  /** Bytes to write for the current request instead of the factory's (a campaign sends one rendering several times). */
  #payload: string | Buffer | null = null;

  constructor(endpoint: Endpoint, factory: RequestFactory, owner: ConnectionOwner, readBuffer: Buffer, timeoutMs: number) {
    this.#endpoint = endpoint;
    this.#factory = factory;
    this.#owner = owner;
    this.#readBuffer = readBuffer;
    this.#timeoutMs = timeoutMs;
  }

  get open(): boolean {
    return this.#socket !== null;
  }

  /** True when the last complete response carried a body. */
  get hasBody(): boolean {
    return this.#parser.hasBody;
  }

  /**
   * Issues a request: due at `due` (its schedule), issued now. Connects first if needed. `payload`, when given, is
   * written instead of the factory's request (the same rendering sent on several connections).
   */
  send(due: number, now: number, payload: string | Buffer | null = null): void {
    this.#payload = payload;
    this.due = due;
    this.issued = now;
    this.deadline = now + this.#timeoutMs;
    this.busy = true;
    if (this.#socket === null) this.#connect(now);
    else if (this.#connected) this.#write();
  }

  /** Called by the scheduler when `deadline` has passed. */
  expire(now: number): void {
    if (!this.busy) return;
    this.#fail(this.#connected ? 'timeout' : 'connect-timeout', now);
  }

  close(): void {
    this.busy = false;
    this.#drop();
  }

  #write(): void {
    const f = this.#factory;
    const socket = this.#socket;
    if (socket === null) return;
    this.#parser.reset(f.isHead);
    const payload = this.#payload;
    if (payload !== null) {
      socket.write(payload);
      this.#owner.onBytes(0, typeof payload === 'string' ? Buffer.byteLength(payload) : payload.length);
    } else if (f.prebuilt !== null) {
      socket.write(f.prebuilt);
      this.#owner.onBytes(0, f.prebuilt.length);
    } else {
      const text = f.render();
      socket.write(text);
      this.#owner.onBytes(0, Buffer.byteLength(text));
    }
  }

  #connect(now: number): void {
    const ep = this.#endpoint;
    this.#connected = false;
    this.#connectStarted = now;
    if (ep.address === null) {
      // the name did not resolve: fail asynchronously, so a caller that retries at once cannot recurse
      queueMicrotask(() => {
        if (this.busy && this.#socket === null) this.#fail('dns', performance.now());
      });
      return;
    }
    let socket: net.Socket;
    if (ep.tls) {
      const s = tls.connect({
        host: ep.address,
        port: ep.port,
        servername: ep.servername,
        rejectUnauthorized: !ep.insecure,
        ALPNProtocols: ['http/1.1'],
      });
      s.setNoDelay(true);
      s.on('secureConnect', () => this.#onConnected(s));
      s.on('data', (chunk: Buffer) => this.#onData(s, chunk, 0, chunk.length));
      socket = s;
    } else {
      const buffer = this.#readBuffer;
      const s: net.Socket = net.connect({
        host: ep.address,
        port: ep.port,
        noDelay: true,
        // reads land in one buffer shared by every connection of this thread: the parser copies nothing out
        onread: { buffer, callback: (n: number) => { this.#onData(s, buffer, 0, n); return true; } },
      });
      s.on('connect', () => this.#onConnected(s));
      socket = s;
    }
    socket.on('error', (err) => this.#onError(socket, err));
    socket.on('close', () => this.#onClose(socket));
    this.#socket = socket;
  }

  #onConnected(socket: net.Socket): void {
    if (socket !== this.#socket) return;
    this.#connected = true;
    this.#owner.onConnect(performance.now() - this.#connectStarted);
    if (this.busy) this.#write();
  }

  #onData(socket: net.Socket, b: Buffer, start: number, end: number): void {
    if (socket !== this.#socket) return;
    this.#owner.onBytes(end - start, 0);
    if (!this.busy) {
      // bytes nobody asked for: the connection is out of step; drop it
      this.#drop();
      return;
    }
    const r = this.#parser.feed(b, start, end);
    if (r === NEED_MORE) return;
    if (r === MALFORMED || r !== end) {
      this.#fail('protocol', performance.now());
      return;
    }
    this.#complete(performance.now());
  }

  #complete(now: number): void {
    this.busy = false;
    if (!this.#parser.keepAlive || this.#endpoint.fresh) this.#drop();
    this.#owner.onResponse(this, this.#parser.status, now);
  }

  #onError(socket: net.Socket, err: Error): void {
    if (socket !== this.#socket) return;
    if (this.busy) this.#fail(classifySocketError(err, this.#endpoint.tls && !this.#connected), performance.now());
    else this.#drop();
  }

  #onClose(socket: net.Socket): void {
    if (socket !== this.#socket) return;
    if (!this.busy) {
      this.#drop();
      return;
    }
    if (this.#parser.finishAtEof()) {
      // a body delimited by the end of the connection
      this.#socket = null;
      this.#complete(performance.now());
      return;
    }
    this.#fail(this.#connected ? 'closed' : 'reset', performance.now());
  }

  #fail(kind: ErrorKind, now: number): void {
    this.busy = false;
    this.#drop();
    this.#owner.onFailure(this, kind, now);
  }

  #drop(): void {
    const s = this.#socket;
    this.#socket = null;
    this.#connected = false;
    if (s !== null) s.destroy();
  }
}
