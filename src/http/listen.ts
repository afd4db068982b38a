// Listening on one port through several sockets, so that a burst of new connections is accepted while the loop
// is busy. libuv accepts ONE connection per listening socket per loop iteration (uv__server_io calls accept()
// once; checked with strace on Node 20 and 24: one accept4 per epoll_pwait, never EAGAIN). Under load an
// iteration runs every ready socket's request first, so with one listening socket and 2,000 busy keep-alive
// connections (iterations of 100-200 ms under a CPU cap) a caller's burst of new connections is accepted at a
// few per second: 1,500 connections still waited in the kernel's accept queue 2 s after they connected, the
// queue (net.core.somaxconn) overflowed, and further SYNs were dropped, so connects took 1 s (the SYN retry)
// and calls timed out that the server never saw. With N sockets in one SO_REUSEPORT group (the kernel spreads
// new connections over them by their addresses) an iteration accepts up to N: in the same test, 128 sockets
// left 128 connections waiting instead of 1,508; in the overload benchmark, connect p50 fell from 1.02 s to
// 3.9 ms and timeouts from 20,312 to 2,256.
//
// The first socket is the http.Server's own; the others are plain net.Servers that hand each connection to it
// ('connection' is the documented way to inject a socket; TLS servers wrap it there). In a cluster every worker
// binds its own sockets (Node makes reusePort listens exclusive), so the group spans all workers and the kernel
// balances between them. Where SO_REUSEPORT is not available (not Linux), one socket, as before.
//
// Closing a socket of the group resets the connections still in its accept queue (unless the kernel migrates
// them: sysctl net.ipv4.tcp_migrate_req=1, Linux 5.14+). A draining worker stops accepting before it closes
// its keep-alive connections, so callers reconnect to the sockets that stay; what can be lost is a connection
// that arrived in the last instant before the close.
import cluster from 'node:cluster';
import { readFileSync } from 'node:fs';
import { createServer as createNetServer, Server as NetServer, type AddressInfo, type Socket } from 'node:net';

export const REUSE_PORT_SUPPORTED = process.platform === 'linux';

const extras = new WeakMap<NetServer, NetServer[]>();

export interface ListenOptions {
  port: number;
  host: string;
  backlog: number;
  /** Listening sockets in all (1 = the server's own only). */
  sockets: number;
}

/**
 * How many sockets to listen on: as many as asked, but never more than an eighth of the open-files limit
 * (each is a file descriptor that a connection could have used).
 */
export function socketsFor(asked: number, limits = readLimits()): number {
  if (!REUSE_PORT_SUPPORTED) return 1;
  const soft = /^Max open files\s+(\d+|unlimited)/m.exec(limits)?.[1];
  const cap = soft === undefined || soft === 'unlimited' ? asked : Math.floor(Number(soft) / 8);
  return Math.max(1, Math.min(asked, cap));
}

function readLimits(): string {
  try {
    return readFileSync('/proc/self/limits', 'utf8');
  } catch {
    return '';
  }
}

/** Listens on `opts.port` with `opts.sockets` sockets (see socketsFor); resolves with the port (the concrete one when 0 was asked). */
export async function listenMany(server: NetServer, opts: ListenOptions): Promise<number> {
  const n = socketsFor(opts.sockets);
  // A port another process listens on with SO_REUSEPORT would be shared with it without an error: probe it
  // without the option first. A cluster worker skips this (its siblings hold the port; the primary probed it).
  if (n > 1 && !cluster.isWorker) await checkPort(opts.host, opts.port);
  await listenOne(server, { port: opts.port, host: opts.host, backlog: opts.backlog, ...(n > 1 ? { reusePort: true } : {}) });
  const port = (server.address() as AddressInfo).port;
  const more: NetServer[] = [];
  extras.set(server, more);
  try {
    for (let i = 1; i < n; i++) {
      const s = createNetServer({ noDelay: true }, (socket: Socket) => server.emit('connection', socket));
      more.push(s);
      await listenOne(s, { port, host: opts.host, backlog: opts.backlog, reusePort: true });
    }
  } catch (err) {
    stopAccepting(server);
    throw err;
  }
  return port;
}

/** Rejects (EADDRINUSE, EACCES, ...) unless `port` can be listened on now; port 0 always can. Listens once, then closes. */
export async function checkPort(host: string, port: number): Promise<void> {
  if (port === 0) return;
  const probe = createNetServer();
  await listenOne(probe, { port, host, backlog: 1, exclusive: true });
  await new Promise<void>((resolve) => probe.close(() => resolve()));
}

/** Stops accepting on every socket of the server (net.Server#close: open connections stay). */
export function stopAccepting(server: NetServer): void {
  if (server.listening) NetServer.prototype.close.call(server);
  for (const s of extras.get(server) ?? []) if (s.listening) s.close();
}

/** The number of sockets the server listens on (for tests). */
export function listeningSockets(server: NetServer): number {
  return (server.listening ? 1 : 0) + (extras.get(server) ?? []).filter((s) => s.listening).length;
}

function listenOne(s: NetServer, opts: { port: number; host: string; backlog: number; reusePort?: boolean; exclusive?: boolean }): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    s.once('error', reject);
    s.listen(opts, () => {
      s.off('error', reject);
      resolve();
    });
  });
}
