// The composition root: builds store, tiers, service, metrics and the HTTP server from one Config, and
// tears them down in reverse order. `floodgate serve`, the tests and the benchmarks all start the server here.
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { totalmem } from 'node:os';
import { getHeapStatistics } from 'node:v8';
import { pino, type Logger } from 'pino';
import client, { type Registry } from 'prom-client';
import type { Config } from './config.ts';
import { loadCollections, type CollectionDef } from './content/collections.ts';
import { seedDemo } from './content/demo.ts';
import { checkPreload, parsePreloadList, preloadLogged } from './content/preload.ts';
import { DEFAULT_COLLECTION } from './content/record.ts';
import { timer } from './content/sources.ts';
import { ContentService } from './content/service.ts';
import { Admission } from './http/admission.ts';
import { createDashboard, type WorkerMetricsSource } from './http/dashboard.ts';
import { authorization, credentials } from './http/auth.ts';
import { trackConnections } from './http/drain.ts';
import { listenMany, stopAccepting } from './http/listen.ts';
import { StateLog, type StateLogOptions } from './http/events.ts';
import { registerGcPauses } from './http/gc-metrics.ts';
import { createMetrics, type MetricsOptions } from './http/metrics.ts';
import { PressureMonitor } from './http/pressure.ts';
import { registerChangeFeedGauges, registerServerGauges } from './http/server-metrics.ts';
import { createHandler, type Readiness } from './http/routes.ts';
import { createServerFor, loadTls, prepareTls, type TlsFiles } from './http/tls.ts';
import { fastPathOf } from './http/fast-path.ts';
import { warmUp } from './http/warmup.ts';
import { batchTimeoutMs, openStore, storeOptions } from './store/open.ts';
import type { InvalidationBus } from './bus/bus.ts';
import { openIpcBus, type IpcChannel } from './bus/ipc-bus.ts';
import { openIpcWarm, type WarmPeers } from './bus/ipc-warm.ts';
import type { RedisTier } from './tiers/redis-tier.ts';
import type { OriginDef } from './content/origin-options.ts';
import { createOriginMetrics, type OriginMetrics } from './origin/metrics.ts';
import { openOriginSource, type OriginSource } from './origin/source.ts';

export interface App extends AsyncDisposable {
  readonly url: string;
  readonly port: number;
  readonly server: Server;
  readonly service: ContentService;
  readonly logger: Logger;
  /** This process's metrics. */
  readonly registry: Registry;
  /** Graceful stop: no new connections, in-flight requests finish (up to deadlineMs), then close(). */
  drain(deadlineMs: number): Promise<void>;
  close(): Promise<void>;
}

export interface AppOptions {
  logger?: Logger;
  /** Called with (done, total) while demo content is seeded. */
  onSeedProgress?: (done: number, total: number) => void;
  /** true in a cluster worker: the primary already migrated and seeded the store (prepareStore). */
  prepared?: boolean;
  /**
   * A cluster worker's channel to the primary. The bus is decided here: Redis pub/sub when REDIS_URL is set,
   * else this channel (the IPC bus), else none. With Redis, the IPC bus on this channel is also the way to the
   * other workers of this server for changes the Redis bus could not carry (see ContentServiceOptions.peers).
   */
  ipc?: IpcChannel;
  /** TLS files decided by the primary (shared ticket key); null = plain HTTP; default: decided here from the config. */
  tls?: TlsFiles | null;
  /** What /metrics reads (a cluster worker: every worker's, through the primary); default this app's registry. */
  scrape?: MetricsOptions['scrape'];
  /** Every worker's own metrics, for /dashboard's per-worker rows (a cluster worker: through the primary); default this app's. */
  workerMetrics?: WorkerMetricsSource;
  /** The process guard's count of survived unhandled rejections (process-guard.ts), exported as a metric. */
  unhandledRejections?: () => number;
  /** Timing of the state-change log lines (tests shorten them); default STATE_LOG_DEFAULTS. */
  events?: Pick<StateLogOptions, 'tickMs' | 'quietMs' | 'minGapMs'>;
  /** The collections, already read and checked by the primary; default: read from config.collections here. */
  collections?: Map<string, CollectionDef>;
  /** This instance's id, the same in each of its workers (the primary picks it); default: a new random one. */
  instance?: string;
}

/**
 * Runs once before any worker starts: opens the store (which applies migrations), seeds it, closes it.
 * Resolves with whether the start hint's demo key (user 42 of collection default) exists.
 */
export async function prepareStore(config: Config, logger: Logger, onSeedProgress?: (done: number, total: number) => void): Promise<{ hintKeyExists: boolean }> {
  const store = await openStore(storeOptions(config, { poolSize: 1, queueTimeoutMs: batchTimeoutMs(config) }));
  try {
    const seeded = await seedDemo(store, config.seed, onSeedProgress);
    if (seeded > 0) logger.info({ users: seeded }, 'seeded demo content');
    return { hintKeyExists: (await store.get(DEFAULT_COLLECTION, HINT_KEY)) !== undefined };
  } finally {
    await store.close();
  }
}

/** floodgate's version, from package.json (for floodgate_build_info). */
const VERSION = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;

/** The key the start hint (`try: curl …/data?user_id=42`) reads. */
export const HINT_KEY = '42';

/** The memory watermarks, 0 meaning automatic (see the maxHeap and maxRss options). */
export function memoryLimits(config: Pick<Config, 'maxHeap' | 'maxRss' | 'workers'>): { maxHeapBytes: number; maxRssBytes: number } {
  const constrained = process.constrainedMemory();
  const available = constrained > 0 && constrained < totalmem() ? constrained : totalmem();
  return {
    maxHeapBytes: config.maxHeap || Math.floor(0.9 * getHeapStatistics().heap_size_limit),
    maxRssBytes: config.maxRss || Math.floor((0.9 * available) / Math.max(1, config.workers)),
  };
}

/** How many of the store's records the warm-up reads: the newest, the likeliest to be asked for next. */
const WARMUP_RECORDS = 256;

/** The URL path that reads one record. */
function readPath(collection: string, key: string): string {
  return collection === DEFAULT_COLLECTION ? `/data?user_id=${encodeURIComponent(key)}` : `/v1/content/${encodeURIComponent(collection)}/${encodeURIComponent(key)}`;
}

/**
 * A note for the operator when the kernel caps the listen backlog below --backlog (Linux: net.core.somaxconn,
 * 4096 by default): new connections beyond the cap that arrive in one burst are dropped in the handshake and
 * retried by the client after 1 s, then 3 s. Measured here with 10,000 connections opened at once: 3,743 listen
 * overflows and 69 first answers over 2 s. `somaxconn` is the file's content, undefined where there is none.
 */
export function backlogNote(backlog: number, somaxconn: string | undefined): string | undefined {
  const cap = Number(somaxconn?.trim());
  if (!Number.isInteger(cap) || cap <= 0 || cap >= backlog) return undefined;
  return `the kernel caps the listen backlog at ${cap} (net.core.somaxconn), below --backlog ${backlog}: a burst of more new connections than that is dropped in the handshake and retried by clients after 1 s; raise it with: sysctl -w net.core.somaxconn=${Math.min(backlog, 65535)}`;
}

export function createLogger(config: Pick<Config, 'logLevel'>): Logger {
  return pino({ level: config.logLevel, base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime });
}

/** The origin collections' sources, opened as the service asks for them, with their metrics. */
function originSources(registry: () => Registry, logger: Logger) {
  const opened = new Map<string, OriginSource>();
  let metrics: OriginMetrics | undefined;
  return {
    opened,
    open(def: CollectionDef & { origin: OriginDef }): OriginSource {
      metrics ??= createOriginMetrics(registry());
      const source = openOriginSource(def, { observer: metrics.observer(def.name, (msg, fields) => logger.warn(fields, msg)) });
      metrics.watch(def.name, source);
      opened.set(def.name, source);
      return source;
    },
    /** An origin down at start is a warning: reads answer stale, the fallback or 503 until it answers. */
    async warnUnreachable(): Promise<void> {
      await Promise.all([...opened].map(async ([collection, source]) => {
        if (!(await source.reachable())) logger.warn({ collection, origin: source.client.base }, 'the origin is not reachable at start; serving anyway (misses answer the fallback or 503 until it answers)');
      }));
    },
  };
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
    const collections = opts.collections ?? (await loadCollections(config.collections, config.ttl, { deadlineMs: config.deadline }));
    const store = await openStore(storeOptions(config, { migrate: opts.prepared !== true }));
    closers.push(() => store.close());
    if (opts.prepared !== true) {
      const seeded = await seedDemo(store, config.seed, opts.onSeedProgress);
      if (seeded > 0) logger.info({ users: seeded }, 'seeded demo content');
    }
    const preloads = parsePreloadList(config.preload);
    await checkPreload(preloads, collections, store, config.cacheBytes);

    let l2: RedisTier | undefined;
    let bus: InvalidationBus | undefined;
    let peers: InvalidationBus | undefined;
    if (config.redisUrl !== '') {
      const { parseRedisUrl } = await import('./tiers/redis-connect.ts');
      const redis = await import('./tiers/redis.ts');
      const redisBus = await import('./bus/redis-bus.ts');
      const url = parseRedisUrl(config.redisUrl);
      l2 = redis.openRedisTier({ url, keyPrefix: config.redisPrefix, commandTimeoutMs: config.redisTimeout });
      closers.push(() => l2?.close() ?? Promise.resolve());
      bus = redisBus.openRedisBus({ url, keyPrefix: config.redisPrefix, commandTimeoutMs: config.redisTimeout });
      closers.push(() => bus?.close() ?? Promise.resolve());
      if (opts.ipc) {
        peers = openIpcBus(opts.ipc);
        closers.push(() => peers?.close() ?? Promise.resolve());
      }
    } else if (opts.ipc) {
      bus = openIpcBus(opts.ipc);
      closers.push(() => bus?.close() ?? Promise.resolve());
    }

    let warmPeers: WarmPeers | undefined;
    if (opts.ipc) {
      const ipc = opts.ipc;
      warmPeers = openIpcWarm(ipc);
      closers.push(async () => warmPeers?.close());
    }

    const origins = originSources(() => metrics.registry, logger);
    const metrics = createMetrics({ logError: (what, err) => logger.warn({ err }, what), scrape: opts.scrape, unhandledRejections: opts.unhandledRejections, collections: collections.keys() });
    const service = new ContentService({
      store,
      collections,
      cacheBytes: config.cacheBytes,
      defaultTtlMs: config.ttl,
      staleMs: config.staleTtl,
      negativeTtlMs: config.negativeTtl,
      l2,
      bus,
      peers,
      warmPeers,
      instance: opts.instance ?? randomUUID(),
      observer: metrics,
      openSource: (def) => (def.origin ? origins.open({ ...def, origin: def.origin }) : undefined),
    });
    closers.push(() => service.close());
    await service.init();
    await origins.warnUnreachable();
    const feed = store.watch ? await store.watch((change) => service.applyStoreChange(change)) : undefined;
    if (feed) closers.push(() => feed.stop());

    const readiness: Readiness = { store: { check: () => store.ping(), required: true } };
    if (l2) readiness.redis = { check: () => l2.ping(), required: false };
    // An origin that fails makes the instance degraded, not unready: stale content and fallbacks still answer.
    for (const [name, source] of origins.opened) readiness[`origin:${name}`] = { check: () => source.check(), required: false };
    const admission = new Admission({
      maxInFlight: config.maxInFlight,
      maxQueue: config.maxQueue,
      deadlineMs: config.deadline,
      onError: (err) => logger.error({ err }, 'error while answering a read past its deadline'),
    });
    closers.push(async () => admission.close());
    const pressure = new PressureMonitor({ maxEventLoopDelayMs: config.maxEventLoopDelay, budgetMs: admission.budgetMs, ...memoryLimits(config) });
    closers.push(async () => pressure.stop());
    const readCredentials = { bearer: config.readToken, basic: config.readBasicAuth };
    const dashboard = createDashboard({
      source: opts.workerMetrics ?? (async () => [{ pid: process.pid, metrics: await metrics.registry.getMetricsAsJSON() }]),
      auth: credentials(readCredentials),
      onError: (err) => logger.warn({ err }, 'dashboard sample failed'),
    });
    closers.push(async () => dashboard.close());
    new client.Gauge({ name: 'floodgate_dashboard_streams', help: '/dashboard event streams open (sampling runs only while one is).', registers: [metrics.registry], aggregator: 'sum', collect() { this.set(dashboard.clients); } });
    const handler = createHandler({
      service,
      metrics,
      logger,
      readAuth: credentials(readCredentials),
      writeAuth: credentials({ bearer: config.adminToken }),
      limits: { bodyLimit: config.bodyLimit, bulkLimit: config.bulkLimit },
      logRequests: config.logRequests,
      readiness,
      admission,
      pressure,
      dashboard,
    });
    if (config.warmup > 0) {
      const t0 = performance.now();
      // Only the store's own collections: a warm-up must not send requests to an origin.
      const records = (await store.recentKeys(WARMUP_RECORDS)).filter((r) => service.source(r.collection).kind === 'store');
      const answered = await warmUp((h) => createServerFor(config, undefined, h), handler, { requests: config.warmup, paths: records.map((c) => readPath(c.collection, c.key)), authorization: authorization(readCredentials) });
      metrics.reset();
      const ms = Math.round(performance.now() - t0);
      if (answered < config.warmup) logger.warn({ requests: config.warmup, answered, ms }, 'the warm-up was cut short; starting anyway');
      else logger.debug({ requests: answered, ms }, 'warmed up');
    }
    // The preload comes after the warm-up: the warm-up's reads (real misses, then hits) and its remembered 404s
    // are in the tier first, and the preload fills the rest of the budget without evicting them; its pages count
    // in the store metrics (op "scan"), which the warm-up reset. The server listens only once it is done.
    if (preloads.length > 0 && service.memory) {
      await preloadLogged({ store, memory: service.memory, collections: preloads, timed: timer(metrics), cacheBytes: config.cacheBytes }, logger);
    }
    // Sampling starts after the warm-up and the preload: their busy loops are not load, and would start the server shedding.
    pressure.start();
    const dependencies = Object.fromEntries(Object.entries(readiness).map(([name, r]) => [name, r.check]));
    const events = new StateLog({ logger, registry: metrics.registry, dependencies, ...opts.events }).start();
    closers.push(async () => events.stop());
    const memory = service.memory;
    const stopGc = registerGcPauses(metrics.registry);
    closers.push(async () => stopGc());
    new client.Gauge({ name: 'floodgate_memory_bytes', help: 'Bytes the memory tier holds (its accounted sizes), summed over workers.', registers: [metrics.registry], aggregator: 'sum', collect() { this.set(memory?.size.bytes ?? 0); } });
    new client.Gauge({ name: 'floodgate_memory_entries', help: 'Entries the memory tier holds, summed over workers.', registers: [metrics.registry], aggregator: 'sum', collect() { this.set(memory?.size.entries ?? 0); } });
    new client.Counter({ name: 'floodgate_memory_evictions_total', help: 'Entries the memory tier pushed out to stay within --cache-bytes.', registers: [metrics.registry], aggregator: 'sum', collect() { this.reset(); this.inc(memory?.evictions ?? 0); } });
    const warmStats = service.warmer.stats;
    new client.Counter({
      name: 'floodgate_warmed_keys_total',
      help: 'Keys floodgate warm put in a memory tier, by where the record came from: store (read by this worker), peer (another worker of this server read it), redis (another instance warmed it); summed over workers.',
      labelNames: ['from'],
      registers: [metrics.registry],
      aggregator: 'sum',
      collect() {
        this.reset();
        for (const from of ['store', 'peer', 'redis'] as const) this.labels(from).inc(warmStats[from]);
      },
    });
    new client.Counter({ name: 'floodgate_warm_not_in_redis_total', help: 'Keys another instance warmed that this one could not load from Redis (absent, or Redis unusable); they load on their first read.', registers: [metrics.registry], aggregator: 'sum', collect() { this.reset(); this.inc(warmStats.notInRedis); } });
    new client.Gauge({ name: 'floodgate_build_info', help: 'Always 1; the labels say which floodgate and Node.js answer.', labelNames: ['version', 'node'], registers: [metrics.registry], aggregator: 'max', collect() { this.set({ version: VERSION, node: process.version }, 1); } });
    new client.Gauge({
      name: 'floodgate_dependency_up',
      help: '1 while a dependency (store, redis) answered its last check (every second), 0 while it does not; the worst worker.',
      labelNames: ['dependency'],
      registers: [metrics.registry],
      aggregator: 'min',
      collect() {
        for (const name of Object.keys(dependencies)) this.set({ dependency: name }, events.isUp(name) === false ? 0 : 1);
      },
    });
    const tlsFiles = opts.tls === undefined ? prepareTls(config, (msg) => logger.info(msg)) : (opts.tls ?? undefined);
    const server = createServerFor(config, tlsFiles && loadTls(tlsFiles), handler);
    const connections = trackConnections(server);
    const fast = fastPathOf(server);
    new client.Counter({ name: 'floodgate_fast_path_requests_total', help: 'Requests read and answered by the fast path (plain-HTTP GET/HEAD reads; 0 with --fast-path=false or TLS), summed over workers.', registers: [metrics.registry], aggregator: 'sum', collect() { this.reset(); this.inc(fast?.requests ?? 0); } });
    new client.Counter({ name: 'floodgate_fast_path_handovers_total', help: 'Connections the fast path handed to node:http (a write, another route, a request split across reads, anything it does not read itself), summed over workers.', registers: [metrics.registry], aggregator: 'sum', collect() { this.reset(); this.inc(fast?.handovers ?? 0); } });
    server.on('connection', (socket: Socket) => pressure.connected(socket, performance.now()));
    if (feed) registerChangeFeedGauges(metrics.registry, () => feed.behind());
    registerServerGauges(metrics.registry, { connections: () => connections.sockets.size, limits: memoryLimits(config), pool: store.pool && (() => store.pool?.() ?? { size: 0, busy: 0, waiting: 0 }) });
    const port = await listenMany(server, { port: config.port, host: config.host, backlog: config.backlog, sockets: config.listenSockets });
    closers.push(
      () =>
        new Promise<void>((resolve) => {
          stopAccepting(server);
          server.close(() => resolve());
          server.closeIdleConnections();
          connections.destroyAll();
        }),
    );
    const host = config.host === '0.0.0.0' || config.host === '::' ? '127.0.0.1' : config.host;
    const url = `${tlsFiles ? 'https' : 'http'}://${host.includes(':') ? `[${host}]` : host}:${port}`;
    let closed: Promise<void> | undefined;
    const close = (): Promise<void> => (closed ??= closeAll());
    const drain = async (deadlineMs: number): Promise<void> => {
      dashboard.close(); // its streams never end on their own: they would hold the drain to its deadline
      await connections.drain(deadlineMs);
      await close();
    };
    return { url, port, server, service, logger, registry: metrics.registry, drain, close, [Symbol.asyncDispose]: close };
  } catch (err) {
    await closeAll();
    throw err;
  }
}
