// The composition root: builds store, tiers, service, metrics and the HTTP server from one Config, and
// tears them down in reverse order. `floodgate serve`, the tests and the benchmarks all start the server here.
import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { pino, type Logger } from 'pino';
import type { Config } from './config.ts';
import { loadCollections } from './content/collections.ts';
import { demoWrites } from './content/demo.ts';
import { DEFAULT_COLLECTION } from './content/record.ts';
import { ContentService } from './content/service.ts';
import { credentials } from './http/auth.ts';
import { createMetrics } from './http/metrics.ts';
import { createHandler } from './http/routes.ts';
import { BULK_BATCH } from './http/writes.ts';
import { openStore } from './store/open.ts';
import type { Store } from './store/store.ts';
import type { InvalidationBus, Tier } from './tiers/tier.ts';

export interface App extends AsyncDisposable {
  readonly url: string;
  readonly port: number;
  readonly server: Server;
  readonly service: ContentService;
  readonly logger: Logger;
  close(): Promise<void>;
}

export interface AppOptions {
  logger?: Logger;
  /** Called with (done, total) while demo content is seeded. */
  onSeedProgress?: (done: number, total: number) => void;
}

export function createLogger(config: Pick<Config, 'logLevel'>): Logger {
  return pino({ level: config.logLevel, base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime });
}

/** Seeds demo users 1..n into the default collection when it is empty. Returns how many were written. */
export async function seedDemo(store: Store, n: number, onProgress?: (done: number, total: number) => void): Promise<number> {
  if (n <= 0 || (await store.count(DEFAULT_COLLECTION)) > 0) return 0;
  for (let from = 1; from <= n; from += BULK_BATCH) {
    const to = Math.min(n, from + BULK_BATCH - 1);
    await store.putMany(demoWrites(from, to));
    onProgress?.(to, n);
  }
  return n;
}

export async function startApp(config: Config, opts: AppOptions = {}): Promise<App> {
  const logger = opts.logger ?? createLogger(config);
  const closers: (() => Promise<void>)[] = [];
  const closeAll = async (): Promise<void> => {
    for (const close of closers.reverse()) {
      try {
        await close();
      } catch (err) {
        logger.warn({ err }, 'error while closing');
      }
    }
  };
  try {
    const collections = await loadCollections(config.collections, config.ttl);
    const store = await openStore({ databaseUrl: config.databaseUrl, dataDir: config.dataDir, poolSize: config.dbPool, queueTimeoutMs: config.storeTimeout, schema: config.dbSchema });
    closers.push(() => store.close());
    const seeded = await seedDemo(store, config.seed, opts.onSeedProgress);
    if (seeded > 0) logger.info({ users: seeded }, 'seeded demo content');

    let l2: Tier | undefined;
    let bus: InvalidationBus | undefined;
    if (config.redisUrl !== '') {
      const redis = await import('./tiers/redis.ts');
      const bus_ = await import('./tiers/redis-bus.ts');
      l2 = redis.openRedisTier({ url: config.redisUrl, keyPrefix: config.redisPrefix, commandTimeoutMs: config.redisTimeout });
      closers.push(() => l2?.close() ?? Promise.resolve());
      bus = bus_.openRedisBus({ url: config.redisUrl, keyPrefix: config.redisPrefix, commandTimeoutMs: config.redisTimeout });
      closers.push(() => bus?.close() ?? Promise.resolve());
    }

    const metrics = createMetrics({ logError: (what, err) => logger.warn({ err }, what) });
    const service = new ContentService({
      store,
      collections,
      cacheBytes: config.cacheBytes,
      defaultTtlMs: config.ttl,
      staleMs: config.staleTtl,
      negativeTtlMs: config.negativeTtl,
      l2,
      bus,
      observer: metrics,
    });
    await service.init();
    if (store.watch) {
      const stop = await store.watch((change) => service.applyStoreChange(change));
      closers.push(stop);
    }

    const readiness: Record<string, () => Promise<void>> = { store: () => store.ping() };
    if (l2) readiness.redis = () => l2.ping();
    const handler = createHandler({
      service,
      metrics,
      logger,
      readAuth: credentials({ bearer: config.readToken, basic: config.readBasicAuth }),
      writeAuth: credentials({ bearer: config.adminToken }),
      limits: { bodyLimit: config.bodyLimit, bulkLimit: config.bulkLimit },
      logRequests: config.logRequests,
      readiness,
    });
    const server = createServer({ keepAliveTimeout: 65_000, headersTimeout: 10_000, requestTimeout: 30_000 }, handler);
    const sockets = new Set<Socket>();
    server.on('connection', (s: Socket) => {
      sockets.add(s);
      s.once('close', () => sockets.delete(s));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(config.port, config.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    closers.push(
      () =>
        new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeIdleConnections();
          for (const s of sockets) s.destroy();
        }),
    );
    const port = (server.address() as AddressInfo).port;
    const host = config.host === '0.0.0.0' || config.host === '::' ? '127.0.0.1' : config.host;
    const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
    let closed: Promise<void> | undefined;
    const close = (): Promise<void> => (closed ??= closeAll());
    return { url, port, server, service, logger, close, [Symbol.asyncDispose]: close };
  } catch (err) {
    await closeAll();
    throw err;
  }
}
