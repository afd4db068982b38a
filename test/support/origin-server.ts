// A real HTTP origin for the origin-collection tests, on a loopback port: GET /users/<key>/recs answers what
// `respond` says for the key (status, headers, body, delay). It counts what it receives: requests per key, in
// flight now and at most. stop() kills it (every connection cut); start() brings it back on the same port.
// countConnections() puts a bare TCP listener on the port that accepts and cuts every connection, counting them:
// the origin is down, and the test sees how often floodgate still knocks (the breaker's probes).
import { createServer, type Server } from 'node:http';
import { createServer as createTcpServer, type Server as TcpServer, type Socket } from 'node:net';
import { once } from 'node:events';
import { freePort } from '../../src/common/processes.ts';

export interface OriginReply {
  status?: number;
  headers?: Record<string, string>;
  body?: string | Buffer;
  delayMs?: number;
}

export class TestOrigin implements AsyncDisposable {
  respond: (key: string) => OriginReply = (key) => ({ body: JSON.stringify({ key }), headers: { 'content-type': 'application/json' } });
  readonly requests = new Map<string, number>();
  /** Requests answered in full so far. */
  answered = 0;
  inFlight = 0;
  maxInFlight = 0;
  /** Request headers of the last request, by key. */
  readonly lastHeaders = new Map<string, Record<string, string | string[] | undefined>>();
  port = 0;
  #server: Server | undefined;
  #tcp: TcpServer | undefined;
  readonly #sockets = new Set<Socket>();
  connections = 0;

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }
  /** The collection's origin URL template. */
  get template(): string {
    return `${this.url}/users/{key}/recs`;
  }
  count(key: string): number {
    return this.requests.get(key) ?? 0;
  }
  get total(): number {
    let n = 0;
    for (const v of this.requests.values()) n += v;
    return n;
  }

  async start(): Promise<this> {
    if (this.port === 0) this.port = await freePort();
    await this.#closeTcp();
    const server = createServer((req, res) => {
      const m = /^\/users\/([^/]+)\/recs$/.exec((req.url ?? '').split('?')[0] ?? '');
      const key = m ? decodeURIComponent(m[1] as string) : `path:${req.url ?? ''}`;
      this.requests.set(key, this.count(key) + 1);
      this.lastHeaders.set(key, req.headers);
      this.inFlight++;
      this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
      const r = m ? this.respond(key) : { status: 404 };
      const send = (): void => {
        this.inFlight--;
        if (res.destroyed) return;
        res.writeHead(r.status ?? 200, r.headers ?? {});
        res.end(r.body);
        this.answered++;
      };
      if ((r.delayMs ?? 0) > 0) setTimeout(send, r.delayMs).unref();
      else send();
    });
    server.keepAliveTimeout = 60_000;
    server.on('connection', (s) => {
      this.#sockets.add(s);
      s.on('close', () => this.#sockets.delete(s));
    });
    server.listen(this.port, '127.0.0.1');
    await once(server, 'listening');
    this.#server = server;
    return this;
  }

  /** Kills the origin: no new connections, every open one cut. */
  async stop(): Promise<void> {
    const server = this.#server;
    this.#server = undefined;
    if (!server) return;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const s of this.#sockets) s.destroy();
    await closed;
  }

  /** With the origin stopped: a listener on its port that cuts every connection at once, counting them. */
  async countConnections(): Promise<void> {
    const tcp = createTcpServer((s) => {
      this.connections++;
      s.destroy();
    });
    tcp.listen(this.port, '127.0.0.1');
    await once(tcp, 'listening');
    this.#tcp = tcp;
  }

  async #closeTcp(): Promise<void> {
    const tcp = this.#tcp;
    this.#tcp = undefined;
    if (tcp) await new Promise<void>((resolve) => tcp.close(() => resolve()));
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
    await this.#closeTcp();
  }
}

export async function startTestOrigin(): Promise<TestOrigin> {
  return new TestOrigin().start();
}
