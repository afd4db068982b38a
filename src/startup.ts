// What `floodgate serve` checks in the primary before it forks a worker, what SIGHUP re-checks before it
// touches one, and what `floodgate serve --check` reports: the collections file, the TLS files, the store (and
// its SQL collections), Redis, the port. A configuration problem exits 2, a runtime one (a dependency, the
// port) exits 1; each is one line, printed once.
import { readFile } from 'node:fs/promises';
import { ConfigError, type Config } from './config.ts';
import { CollectionsError, parseCollections, type CollectionDef } from './content/collections.ts';
import { checkPreload, parsePreloadList } from './content/preload.ts';
import { TlsConfigError } from './http/tls.ts';
import { openStore, storeOptions } from './store/open.ts';

/** The collections file as read (its text travels to the workers, so they serve exactly what was checked). */
export interface CollectionsFile {
  readonly text: string;
  readonly defs: Map<string, CollectionDef>;
}

/** Reads and validates --collections; throws CollectionsError naming the problem. */
export async function readCollectionsFile(config: Pick<Config, 'collections' | 'ttl' | 'deadline'>): Promise<CollectionsFile> {
  if (config.collections === '') return { text: '', defs: parseCollections(undefined, config.ttl, 'collections', { deadlineMs: config.deadline }) };
  let text: string;
  try {
    text = await readFile(config.collections, 'utf8');
  } catch (err) {
    throw new CollectionsError(`cannot read collections file ${config.collections}: ${(err as Error).message}`);
  }
  return { text, defs: collectionsFromText(text, config) };
}

/** The collections a worker was handed by the primary (FLOODGATE_WORKER_COLLECTIONS). */
export function collectionsFromText(text: string, config: Pick<Config, 'collections' | 'ttl' | 'deadline'>): Map<string, CollectionDef> {
  if (text === '') return parseCollections(undefined, config.ttl, 'collections', { deadlineMs: config.deadline });
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new CollectionsError(`collections file ${config.collections} is not valid JSON: ${(err as Error).message}`);
  }
  return parseCollections(doc, config.ttl, config.collections, { deadlineMs: config.deadline }); // origin timeouts are checked against the deadline
}

/** Opens the store once (poolSize 1), answers a ping, prepares every SQL collection's query, closes it. */
export async function checkStore(config: Config, defs: ReadonlyMap<string, CollectionDef>, migrate: boolean): Promise<void> {
  const store = await openStore(storeOptions(config, { poolSize: 1, queueTimeoutMs: Math.max(config.storeTimeout, 5000), migrate }));
  try {
    await store.ping();
    for (const def of defs.values()) {
      if (def.query === undefined) continue;
      if (!store.prepareQuery) throw new CollectionsError(`collection ${def.name}: the ${store.kind} store cannot serve SQL collections`);
      try {
        await store.prepareQuery(def.query);
      } catch (err) {
        throw new CollectionsError(`collection ${def.name}: ${(err as Error).message}`);
      }
    }
  } finally {
    await store.close();
  }
}

/**
 * Checks --preload against the collections and the store (each a store collection that exists), once, before any
 * worker starts: a mistake is one line, exit 2. Resolves with the collections to preload (none: the store is not opened).
 */
export async function checkPreloadCollections(config: Config, defs: ReadonlyMap<string, CollectionDef>): Promise<string[]> {
  const names = parsePreloadList(config.preload);
  if (names.length === 0) return names;
  const store = await openStore(storeOptions(config, { poolSize: 1, queueTimeoutMs: Math.max(config.storeTimeout, 5000), migrate: false }));
  try {
    await checkPreload(names, defs, store, config.cacheBytes);
  } finally {
    await store.close();
  }
  return names;
}

/** Connects to Redis and PINGs it within a few seconds. */
export async function checkRedis(config: Config): Promise<void> {
  const { openRedisTier } = await import('./tiers/redis.ts');
  const tier = openRedisTier({ url: config.redisUrl, keyPrefix: config.redisPrefix, commandTimeoutMs: Math.max(config.redisTimeout, 2000) });
  try {
    const until = Date.now() + 5000;
    for (;;) {
      try {
        await tier.ping();
        return;
      } catch (err) {
        if (Date.now() > until) throw new Error(`Redis at ${redactUrl(config.redisUrl)} does not answer: ${(err as Error).message}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  } finally {
    await tier.close();
  }
}

/** Binds the port for a moment: an address in use is found here, once, rather than by every worker. */
export { checkPort } from './http/listen.ts';

/** 2 for a configuration mistake, 1 for a runtime failure, with one line saying what; undefined for a bug. */
export function classifyStartupError(err: unknown, config: Pick<Config, 'port' | 'host'>): { exitCode: 1 | 2; message: string } | undefined {
  if (err instanceof CollectionsError || err instanceof TlsConfigError || err instanceof ConfigError) return { exitCode: 2, message: err.message };
  const code = (err as { code?: unknown }).code;
  if (code === 'FG_STORE_QUERY') return { exitCode: 2, message: (err as Error).message };
  if (code === 'FG_STORE_UNAVAILABLE' || code === 'FG_STORE_TIMEOUT') return { exitCode: 1, message: (err as Error).message };
  if (code === 'EADDRINUSE') return { exitCode: 1, message: `port ${config.port} is in use on ${config.host}; choose another with --port or PORT` };
  if (code === 'EACCES') return { exitCode: 1, message: `not allowed to listen on port ${config.port} (ports below 1024 need privileges); choose another with --port` };
  if (code === 'EADDRNOTAVAIL') return { exitCode: 1, message: `cannot listen on ${config.host}: no such address on this machine; check --host` };
  return undefined;
}

function redactUrl(url: string): string {
  return url.replace(/\/\/[^@/]*@/, '//***@');
}
