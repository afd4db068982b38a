// The two sources that live in floodgate's own database: the store, and a read-only SQL collection query
// over the user's table. Both time their calls into the service's observer (floodgate_store_* metrics).
import type { ContentObserver, StoreOp } from './service.ts';
import type { CollectionDef } from './collections.ts';
import type { ContentRecord } from './record.ts';
import type { Source } from './source.ts';
import type { QueryReader } from '../store/collection-query.ts';
import type { Store } from '../store/store.ts';

export type Timed = <T>(op: StoreOp, fn: () => Promise<T>) => Promise<T>;

export function timer(obs: ContentObserver): Timed {
  return async (op, fn) => {
    const t0 = performance.now();
    try {
      const out = await fn();
      obs.store(op, (performance.now() - t0) / 1000, true);
      return out;
    } catch (err) {
      obs.store(op, (performance.now() - t0) / 1000, false);
      throw err;
    }
  };
}

export function storeSource(store: Store, timed: Timed): Source {
  return {
    kind: 'store',
    read: (collection, key) => timed('get', () => store.get(collection, key)),
    onDelete: 'delete',
    writable: true,
    describe: 'a store collection',
    forwardHeaders: [],
  };
}

/**
 * A SQL collection: the query is prepared here, at start, so a bad one fails before the first request. A row has
 * no version of its own: it takes the time it was read, so a later read replaces an earlier one in Redis (whose
 * guard keeps only newer versions).
 */
export async function querySource(store: Store, def: CollectionDef & { query: string }, timed: Timed, now: () => number): Promise<Source> {
  if (!store.prepareQuery) throw new Error(`collection ${def.name}: the ${store.kind} store cannot serve SQL collections`);
  let query: QueryReader;
  try {
    query = await store.prepareQuery(def.query);
  } catch (err) {
    if (err instanceof Error) err.message = `collection ${def.name}: ${err.message}`;
    throw err;
  }
  return {
    kind: 'query',
    async read(collection, key): Promise<ContentRecord | undefined> {
      const body = await timed('query', () => query(key));
      if (body === undefined) return undefined;
      const t = now();
      return { collection, key, body, contentType: def.contentType, version: t, updatedAt: t };
    },
    onDelete: 'refuse',
    writable: false,
    describe: 'a read-only SQL collection',
    forwardHeaders: [],
  };
}
