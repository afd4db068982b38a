// A small TCP proxy for failure tests: put it between a process and a real server (e.g. floodgate and the
// shared PostgreSQL on 127.0.0.1:5432) and cut or freeze the link without touching the server:
//   await using proxy = await startTcpProxy({ port: 5432 });
//   ... DATABASE_URL=postgres://postgres@127.0.0.1:${proxy.port}/test ...
//   proxy.cut();      // every connection is reset, new ones are reset at once: "the server is unreachable"
//   proxy.freeze();   // connections stay open and new ones are accepted, but no byte passes: "the network hangs"
//   proxy.hold();     // open connections keep what they send, delivered on restore(); new ones are reset:
//                     // "bytes stuck in a socket buffer", and no CancelRequest gets through meanwhile
//   proxy.restore();  // new connections reach the server again
// It keeps its listening socket through cut and freeze, so nobody else can take the port meanwhile.
import { once } from 'node:events';
import { connect, createServer, type Server, type Socket } from 'node:net';

export type ProxyMode = 'open' | 'cut' | 'frozen' | 'held';

export interface TcpProxy extends AsyncDisposable {
  /** The proxy's port on 127.0.0.1. */
  readonly port: number;
  readonly mode: ProxyMode;
  /** Client connections currently open through the proxy (or held by it while frozen). */
  readonly connections: number;
  /** Client connections accepted since start, all modes. */
  readonly accepted: number;
  /** Resets every connection (RST to the client, close to the server) and every new one until restore(). */
  cut(): void;
  /** Stops forwarding: open connections and new ones stay open, and nothing passes, until restore(). */
  freeze(): void;
  /** Stops forwarding on open connections without losing a byte (restore() delivers it); resets new ones. */
  hold(): void;
  /**
   * Forwards new connections again. Connections held while frozen are reset (what they sent is gone);
   * connections held by hold() resume, delivering what they sent meanwhile.
   */
  restore(): void;
  close(): Promise<void>;
}

interface Pair {
  client: Socket;
  upstream: Socket | undefined;
}

export async function startTcpProxy(target: { host?: string; port: number }): Promise<TcpProxy> {
  const host = target.host ?? '127.0.0.1';
  const pairs = new Set<Pair>();
  let mode: ProxyMode = 'open';
  let accepted = 0;

  const drop = (p: Pair): void => {
    pairs.delete(p);
    if (!p.client.destroyed) p.client.resetAndDestroy();
    p.upstream?.destroy();
  };

  const server: Server = createServer({ noDelay: true }, (client) => {
    accepted++;
    const pair: Pair = { client, upstream: undefined };
    pairs.add(pair);
    client.on('error', () => undefined);
    client.once('close', () => {
      pairs.delete(pair);
      pair.upstream?.destroy();
    });
    if (mode === 'cut' || mode === 'held') {
      drop(pair);
      return;
    }
    if (mode === 'frozen') {
      client.pause();
      return;
    }
    const upstream = connect({ host, port: target.port, noDelay: true });
    pair.upstream = upstream;
    upstream.on('error', () => undefined);
    upstream.once('close', () => {
      if (pairs.has(pair)) drop(pair);
    });
    client.pipe(upstream);
    upstream.pipe(client);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('tcp proxy: no port');

  const close = async (): Promise<void> => {
    for (const p of [...pairs]) drop(p);
    if (!server.listening) return;
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  return {
    port: address.port,
    get mode() {
      return mode;
    },
    get connections() {
      return pairs.size;
    },
    get accepted() {
      return accepted;
    },
    cut() {
      mode = 'cut';
      for (const p of [...pairs]) drop(p);
    },
    freeze() {
      mode = 'frozen';
      for (const p of pairs) {
        p.client.unpipe();
        p.upstream?.unpipe();
        p.client.pause();
        p.upstream?.pause();
      }
    },
    hold() {
      mode = 'held';
      for (const p of pairs) {
        p.client.unpipe();
        p.upstream?.unpipe();
        p.client.pause();
        p.upstream?.pause();
      }
    },
    restore() {
      if (mode === 'frozen') for (const p of [...pairs]) drop(p);
      if (mode === 'held') {
        for (const p of pairs) {
          if (p.upstream === undefined) continue;
          p.client.pipe(p.upstream);
          p.upstream.pipe(p.client);
        }
      }
      mode = 'open';
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}
