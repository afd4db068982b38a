// serve --preload C1,C2: before a worker listens (so before /readyz can answer ready), it streams whole store
// collections into its memory tier, in pages of a keyset scan (Store.scan, primary-key order), as far as the
// byte budget (--cache-bytes) allows. It is the audience in memory before a send starts: every read of it is
// then a hit. Preloaded entries are ordinary entries (the collection's TTL from the moment they were loaded,
// then stale, then gone) and lose to anything newer: the memory tier's fill() skips what a write, a change
// or an invalidation replaced meanwhile (MemoryTier.beginFill). PostgreSQL pages are read one ahead: the next
// page is on the wire while this one goes into the tier. Only store collections can be preloaded: a SQL or an
// origin collection is read one key at a time from the user's own system, and cannot be listed.
import { setImmediate as nextTurn } from 'node:timers/promises';
import { editDistance } from '../common/edit-distance.ts';
import type { Store } from '../store/store.ts';
import type { MemoryTier } from '../tiers/memory.ts';
import { CollectionsError, type CollectionDef } from './collections.ts';
import { collectionProblem } from './keys.ts';
import type { ContentRecord } from './record.ts';
import type { Timed } from './sources.ts';

/** Records a page. Measured over 1,000,000 demo users (SQLite and PostgreSQL): see docs/operations.md. */
export const PRELOAD_PAGE = 5000;
/** Times a page that timed out is asked for again. */
const PAGE_RETRIES = 2;
/** A progress line this often while a preload runs, ms. */
export const PRELOAD_PROGRESS_MS = 2000;

/** What the option says (where it was given, for messages). */
const OPTION = '--preload';

/** The collections of --preload / FLOODGATE_PRELOAD ("C1,C2"), each once, in order; throws CollectionsError for a bad name. */
export function parsePreloadList(text: string): string[] {
  if (text.trim() === '') return [];
  const names: string[] = [];
  for (const part of text.split(',')) {
    const name = part.trim();
    if (name === '') continue;
    const problem = collectionProblem(name);
    if (problem !== undefined) throw new CollectionsError(`${OPTION}: ${JSON.stringify(name)} is not a collection name: ${problem}`);
    if (!names.includes(name)) names.push(name);
  }
  if (names.length === 0) throw new CollectionsError(`${OPTION}: ${JSON.stringify(text)} names no collection; give a comma-separated list, e.g. --preload default,news`);
  return names;
}

/**
 * Checks that every collection to preload can be: the memory tier is on, and each is a store collection that
 * exists (the collections file defines it, or the store holds a record in it). Throws CollectionsError (exit 2).
 */
export async function checkPreload(names: readonly string[], defs: ReadonlyMap<string, CollectionDef>, store: Pick<Store, 'hasAny'>, cacheBytes: number): Promise<void> {
  if (names.length === 0) return;
  if (cacheBytes <= 0) throw new CollectionsError(`${OPTION}: the memory tier is off (--cache-bytes 0); preloading fills it, so give it room, e.g. --cache-bytes 1GiB`);
  for (const name of names) {
    const def = defs.get(name);
    const only = 'so only collections the store holds can be preloaded';
    if (def?.query !== undefined) throw new CollectionsError(`${OPTION}: collection ${name} is a read-only SQL collection: its rows are read from your table one key at a time, ${only}`);
    if (def?.origin !== undefined) throw new CollectionsError(`${OPTION}: collection ${name} is an origin collection: its content is fetched from an HTTP origin one key at a time, ${only}`);
    if (def === undefined && !(await store.hasAny(name))) {
      const hint = nearest(name, [...defs.keys()]);
      throw new CollectionsError(`${OPTION}: no collection ${JSON.stringify(name)}: the collections file does not define it and the store holds no record in it${hint === undefined ? '' : ` (did you mean ${hint}?)`}`);
    }
  }
}

function nearest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = 3;
  for (const c of candidates) {
    const d = editDistance(word.toLowerCase(), c.toLowerCase());
    if (d < bestD) {
      best = c;
      bestD = d;
    }
  }
  return best;
}

export interface CollectionPreload {
  readonly collection: string;
  /** Records the collection held when the preload counted them. */
  records: number;
  /** Entries stored in the memory tier. */
  entries: number;
  /** Their accounted bytes. */
  bytes: number;
  /** Records the tier already held at that version or newer, or that changed while the preload ran (they load on demand). */
  skipped: number;
  /** Records that did not fit in the byte budget (0 when all did). */
  notFit: number;
  /** The first key that did not fit: the keys from it on (in key order) were not preloaded. */
  firstNotFit?: string;
  ms: number;
}

export interface PreloadReport {
  readonly collections: CollectionPreload[];
  /** Records the collections held, counted at the start of each. */
  records: number;
  entries: number;
  bytes: number;
  skipped: number;
  notFit: number;
  /** The byte budget was reached. */
  full: boolean;
  /** Why the preload stopped early, when the store failed (the worker serves anyway: the rest loads on demand). */
  failed?: string;
  ms: number;
}

export interface PreloadOptions {
  readonly store: Pick<Store, 'scan' | 'count'>;
  readonly memory: Pick<MemoryTier, 'beginFill' | 'fillMark' | 'fill' | 'endFill' | 'reserve' | 'size' | 'budget'>;
  readonly collections: readonly string[];
  /** Times each store call into the store metrics (op "scan"); default: untimed. */
  readonly timed?: Timed;
  readonly page?: number;
  /** Called every progressMs while it runs. */
  readonly onProgress?: (progress: { collection: string; entries: number; of: number; bytes: number; ms: number }) => void;
  readonly progressMs?: number;
}

/**
 * Streams the collections, in order, into the memory tier until they end or the tier is full (what did not
 * fit is counted with one count query). A store failure ends it early (report.failed): what was loaded stays.
 */
export async function preload(opts: PreloadOptions): Promise<PreloadReport> {
  const { store, memory } = opts;
  const page = Math.max(1, opts.page ?? PRELOAD_PAGE);
  const timed: Timed = opts.timed ?? ((_op, fn) => fn());
  // A page that times out (a store busy with the campaign's own reads, a loaded machine) is asked for again, twice.
  const scan = async (collection: string, after: string | undefined): Promise<ContentRecord[]> => {
    for (let attempt = 1; ; attempt++) {
      try {
        return await timed('scan', () => store.scan(collection, after, page));
      } catch (err) {
        if ((err as { code?: unknown }).code !== 'FG_STORE_TIMEOUT' || attempt > PAGE_RETRIES) throw err;
      }
    }
  };
  const progressMs = opts.progressMs ?? PRELOAD_PROGRESS_MS;
  const t0 = performance.now();
  let nextProgress = t0 + progressMs;
  const report: PreloadReport = { collections: [], records: 0, entries: 0, bytes: 0, skipped: 0, notFit: 0, full: false, ms: 0 };
  memory.beginFill();
  try {
    for (const collection of opts.collections) {
      const c: CollectionPreload = { collection, records: 0, entries: 0, bytes: 0, skipped: 0, notFit: 0, ms: 0 };
      report.collections.push(c);
      const c0 = performance.now();
      try {
        if (report.full || report.failed !== undefined) {
          if (report.full) c.records = c.notFit = await timed('scan', () => store.count(collection));
          continue;
        }
        // The first page and the count at once (on PostgreSQL, on two connections): with the count, progress says
        // how far it got, the tier makes room once (reserve) instead of growing step by step, and when the
        // budget ends it, what did not fit is known.
        let mark = memory.fillMark();
        let pending = scan(collection, undefined);
        pending.catch(() => undefined);
        const counting = timed('scan', () => store.count(collection));
        counting.catch(() => undefined); // awaited below; a failure then ends the preload like a failed page
        let total: number | undefined;
        let reserved = false;
        for (;;) {
          const records = await pending;
          const recordsMark = mark;
          const more = records.length === page;
          // The next page is asked for now, and read while this one goes into the tier.
          if (more) {
            mark = memory.fillMark();
            pending = scan(collection, (records[records.length - 1] as ContentRecord).key);
            pending.catch(() => undefined); // awaited next turn of the loop, unless this one ends it
          }
          const r = memory.fill(records, recordsMark);
          c.entries += r.stored;
          c.bytes += r.bytes;
          c.skipped += r.skipped;
          c.records = total ??= await counting;
          if (r.full) {
            report.full = true;
            c.firstNotFit = records[r.stored + r.skipped]?.key;
            c.notFit = Math.max(0, total - c.entries - c.skipped);
            break;
          }
          if (!more) break;
          if (!reserved && c.entries > 0) {
            // As many as are left, or as many as the rest of the budget holds at this page's bytes an entry.
            reserved = true;
            const { bytes } = memory.size;
            const room = Math.max(0, memory.budget.maxBytes - bytes) / (c.bytes / c.entries);
            memory.reserve(Math.min(total - c.entries - c.skipped, Math.ceil(room)));
          }
          const now = performance.now();
          if (now >= nextProgress) {
            nextProgress = now + progressMs;
            opts.onProgress?.({ collection, entries: report.entries + c.entries, of: report.records + total, bytes: report.bytes + c.bytes, ms: Math.round(now - t0) });
          }
          // SQLite answers synchronously: let timers, IPC and the change feed in between pages.
          await nextTurn();
        }
      } catch (err) {
        report.failed = `reading ${collection} after ${c.entries + c.skipped} of its records: ${(err as Error).message}`;
      } finally {
        c.ms = Math.round(performance.now() - c0);
        report.entries += c.entries;
        report.bytes += c.bytes;
        report.skipped += c.skipped;
        report.notFit += c.notFit;
        report.records += c.records;
      }
    }
  } finally {
    memory.endFill();
  }
  report.ms = Math.round(performance.now() - t0);
  return report;
}

/** The log interface preloadLogged writes to (pino's Logger has it). */
export interface PreloadLog {
  info(fields: object, msg: string): void;
  warn(fields: object, msg: string): void;
}

const MiB = 1024 * 1024;
const mib = (n: number): string => `${(n / MiB).toFixed(1)} MiB`;

/**
 * preload(), with a progress line every 2 s and one line at the end: info when everything fit, warn when the
 * budget cut it short (what was loaded, what did not fit and from which key on) or the store failed.
 */
export async function preloadLogged(opts: PreloadOptions & { readonly cacheBytes: number }, log: PreloadLog): Promise<PreloadReport> {
  const report = await preload({
    ...opts,
    onProgress: (p) => log.info({ event: 'preloading', ...p }, `preloading ${p.collection}: ${p.entries} of ${p.of} entries (${mib(p.bytes)}) in ${(p.ms / 1000).toFixed(1)} s`),
  });
  const names = report.collections.map((c) => c.collection).join(', ');
  const fields = {
    event: 'preloaded',
    collections: report.collections,
    records: report.records,
    entries: report.entries,
    bytes: report.bytes,
    notFit: report.notFit,
    skipped: report.skipped,
    cacheBytes: opts.cacheBytes,
    ms: report.ms,
    ...(report.failed === undefined ? {} : { failed: report.failed }),
  };
  const loaded = `${report.entries} entries (${mib(report.bytes)}) of ${names} in ${report.ms} ms`;
  if (report.failed !== undefined) {
    log.warn(fields, `preload stopped by a store error, ${report.failed}; preloaded ${loaded}; serving anyway, the rest loads on demand`);
  } else if (report.full) {
    const cut = report.collections.find((c) => c.firstNotFit !== undefined);
    log.warn(fields, `preload stopped at the memory budget (--cache-bytes ${mib(opts.cacheBytes)}): preloaded ${loaded}; ${report.notFit} entries did not fit${cut ? ` (${cut.collection} from key ${JSON.stringify(cut.firstNotFit)} on)` : ''} and load on demand`);
  } else {
    log.info(fields, `preloaded ${loaded}`);
  }
  return report;
}
