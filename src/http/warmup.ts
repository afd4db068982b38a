// Warm-up before the first real request. A fresh process runs its request path in V8's interpreter: measured
// on a new server pinned to one core, the first requests on 100 new keep-alive connections were answered one
// after another at 3-9 ms each, so the 100th waited 300-900 ms. A worker that joins under load (a rolling
// restart, a crash replacement, a new instance added during a spike) would answer its first burst that slowly.
// So before the server listens, the same request handler answers a few hundred reads over loopback: the
// records written last (misses that load, fill the tiers and answer 200, then memory hits), and reserved keys
// nobody stores (`__floodgate_warmup_<n>`: the 404 path). The 404s alone were not enough: the first burst of
// cold reads still took up to 500-600 ms; with real records it took 39-61 ms. The caller resets the metrics
// afterwards; what stays is real content in the cache tiers, and the reserved keys as short-lived negative
// entries in memory. The steady state is unchanged: two servers on one core, one warmed and one not, under
// alternating 5 s wrk runs, spent 36.9 vs 39.5, 32.9 vs 31.5 and 39.0 vs 49.7 µs of CPU per cached read.
import type { RequestListener, Server } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { MALFORMED, NEED_MORE, ResponseParser } from '../common/response-parser.ts';

export interface WarmupOptions {
  /** Requests in all (0 = no warm-up). */
  readonly requests: number;
  /** Paths of reads of content the store holds (misses, then hits); the reserved 404 keys come after them. */
  readonly paths?: readonly string[];
  /** Keep-alive connections they are spread over. */
  readonly connections?: number;
  /** Distinct reserved 404 keys, each one store read, then memory hits. */
  readonly missingKeys?: number;
  /** The Authorization header every warm-up request carries (the read credentials, when reads need them). */
  readonly authorization?: string;
  /** Gives up after this long; the server then starts anyway. */
  readonly timeoutMs?: number;
}

export const WARMUP_KEY_PREFIX = '__floodgate_warmup_';

/**
 * Answers `requests` reads through `handler` on a private loopback port of a server made by `makeServer` (the
 * real server's factory, so that both have the same options and shape); resolves with how many were answered.
 */
export async function warmUp(makeServer: (handler: RequestListener) => Server, handler: RequestListener, opts: WarmupOptions): Promise<number> {
  const total = opts.requests;
  if (total <= 0) return 0;
  const connections = Math.max(1, Math.min(opts.connections ?? 8, total));
  const missing = Math.max(1, opts.missingKeys ?? 16);
  const paths = [...(opts.paths ?? []), ...Array.from({ length: missing }, (_, i) => `/data?user_id=${WARMUP_KEY_PREFIX}${i}`)];
  const extra = opts.authorization === undefined ? '' : `Authorization: ${opts.authorization}\r\n`;
  const server = makeServer(handler);
  // exclusive: a cluster worker listens on this port itself, not through the primary's shared handle.
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port: 0, host: '127.0.0.1', exclusive: true }, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  let sent = 0;
  let answered = 0;
  const one = (): Promise<void> =>
    new Promise((resolve) => {
      const socket = connect(port, '127.0.0.1');
      socket.setNoDelay(true);
      const parser = new ResponseParser();
      const next = (): void => {
        if (sent >= total) {
          socket.end();
          return;
        }
        const path = paths[sent++ % paths.length] as string;
        parser.reset(false);
        socket.write(`GET ${path} HTTP/1.1\r\nHost: warmup\r\n${extra}\r\n`);
      };
      socket.on('connect', next);
      socket.on('data', (chunk: Buffer) => {
        for (let at = 0; at < chunk.length; ) {
          const end = parser.feed(chunk, at, chunk.length);
          if (end === NEED_MORE) return;
          if (end === MALFORMED) {
            socket.destroy();
            return;
          }
          answered++;
          at = end;
          next();
        }
      });
      socket.on('close', () => resolve());
      socket.on('error', () => resolve());
    });
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<void>((resolve) => {
    timer = setTimeout(() => {
      sent = total; // the connections stop after their current request
      resolve();
    }, opts.timeoutMs ?? 5000);
  });
  try {
    await Promise.race([Promise.all(Array.from({ length: connections }, one)), timedOut]);
    return answered;
  } finally {
    clearTimeout(timer);
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }
}
