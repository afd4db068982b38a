// Graceful drain of one server: stop accepting, let in-flight requests finish, close every keep-alive
// connection at a request boundary, and cut what is left at the deadline. Closing an idle keep-alive
// connection races with a request already on the wire, so each connection is first closed after its next
// response (Connection: close); only connections that stayed idle for IDLE_GRACE_MS are then closed outright.
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { stopAccepting } from './listen.ts';

const IDLE_GRACE_MS = 1000;
const POLL_MS = 50;

export interface Connections {
  readonly sockets: ReadonlySet<Socket>;
  /** Stops accepting; resolves when every connection has closed, or at the deadline after cutting the rest. */
  drain(deadlineMs: number): Promise<void>;
  /** Cuts every connection now. */
  destroyAll(): void;
}

export function trackConnections(server: Server): Connections {
  const sockets = new Set<Socket>();
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  let draining = false;
  // Added only when the drain starts: the hot path pays nothing for it.
  const lastRequest = (_req: IncomingMessage, res: ServerResponse): void => {
    res.shouldKeepAlive = false;
  };
  const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

  return {
    sockets,
    async drain(deadlineMs) {
      if (!draining) {
        draining = true;
        server.prependListener('request', lastRequest);
        // net.Server#close (on every listening socket, listen.ts) stops accepting without http.Server#close's
        // closeIdleConnections(), which would race with requests already sent on idle keep-alive connections.
        stopAccepting(server);
      }
      const start = performance.now();
      while (sockets.size > 0 && performance.now() - start < deadlineMs) {
        if (performance.now() - start >= IDLE_GRACE_MS) server.closeIdleConnections();
        await sleep(POLL_MS);
      }
      for (const s of sockets) s.destroy();
    },
    destroyAll() {
      for (const s of sockets) s.destroy();
    },
  };
}
