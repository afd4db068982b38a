// Collections: named key spaces, each with its own freshness, optional fallback body, and optionally a
// read-only SQL source over the user's own table. Defined in a JSON file (--collections), validated at start.
import { readFile } from 'node:fs/promises';
import { parseDurationMs } from '../common/duration.ts';
import { collectionProblem } from './keys.ts';
import { mediaTypeProblem } from './media-type.ts';
import { DEFAULT_COLLECTION, DEFAULT_CONTENT_TYPE } from './record.ts';
// --- origin collections (issue 12): their options live in origin-options.ts ---
import { ORIGIN_KEYS, OriginOptionError, parseOrigin, type OriginDef } from './origin-options.ts';
// --- end origin collections ---

export interface CollectionDef {
  readonly name: string;
  /** Freshness in the caches and Cache-Control max-age, ms. */
  readonly ttlMs: number;
  /** Served (200, marked X-Fallback) when neither a tier nor the store can answer in time. */
  readonly fallback?: { readonly body: Buffer; readonly contentType: string };
  /** Read-only collection over the user's own table: one `$1` (PostgreSQL) or `?` (SQLite), one column. */
  readonly query?: string;
  /** Content-Type of query results (and of an origin's answers that name none). */
  readonly contentType: string;
  /** What a key that does not exist answers: 404 (default), or the fallback body (200, X-Fallback: missing). */
  readonly missing: 'not-found' | 'fallback';
  // --- origin collections (issue 12) ---
  /** Backed by an existing HTTP endpoint, which floodgate shields (src/origin/). */
  readonly origin?: OriginDef;
  // --- end origin collections ---
}

/** What validating a collection needs to know of the server's configuration. */
export interface CollectionLimits {
  /** The read deadline (--deadline), ms: an origin's timeout must be under it. */
  readonly deadlineMs: number;
}
const DEFAULT_LIMITS: CollectionLimits = { deadlineMs: 1000 };

export class CollectionsError extends Error {
  override readonly name = 'CollectionsError';
}

const ALLOWED = new Set<string>(['ttl', 'fallback', 'fallbackContentType', 'query', 'contentType', 'missing', ...ORIGIN_KEYS]);
const MISSING = ['not-found', 'fallback'] as const;

function parseTtl(where: string, v: unknown): number {
  // The grammar of every duration flag (common/duration.ts): "60s", "5m", "2m30s"; a bare number has no unit.
  let problem = 'expected a duration with a unit, e.g. "300ms", "60s", "5m" or "2m30s"';
  if (typeof v === 'number' || (typeof v === 'string' && /^\d+(\.\d+)?$/.test(v.trim()) && Number(v) !== 0)) {
    problem = `a bare number has no unit; write "${String(v).trim()}s" or "${String(v).trim()}ms"`;
  } else if (typeof v === 'string') {
    const ms = parseDurationMs(v);
    if (ms !== undefined && Math.round(ms) > 0) return Math.round(ms);
    if (ms !== undefined) problem = 'must be longer than 0';
  }
  throw new CollectionsError(`${where}.ttl: ${problem} (got ${JSON.stringify(v)})`);
}

/**
 * Parses a collections document: `{ "collections": { "<name>": { "ttl": "60s", "fallback": "…",
 * "fallbackContentType": "…", "query": "SELECT …", "contentType": "…", "missing": "fallback" } } }`. Unknown keys are errors.
 */
export function parseCollections(doc: unknown, defaultTtlMs: number, source = 'collections', limits: CollectionLimits = DEFAULT_LIMITS): Map<string, CollectionDef> {
  const out = new Map<string, CollectionDef>();
  out.set(DEFAULT_COLLECTION, { name: DEFAULT_COLLECTION, ttlMs: defaultTtlMs, contentType: DEFAULT_CONTENT_TYPE, missing: 'not-found' });
  if (doc === undefined) return out;
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw new CollectionsError(`${source}: expected a JSON object`);
  for (const k of Object.keys(doc)) if (k !== 'collections') throw new CollectionsError(`${source}: unknown key "${k}" (expected "collections")`);
  const cols = (doc as { collections?: unknown }).collections ?? {};
  if (typeof cols !== 'object' || cols === null || Array.isArray(cols)) throw new CollectionsError(`${source}.collections: expected an object of collections by name`);
  for (const [name, raw] of Object.entries(cols)) {
    const where = `${source}.collections.${name}`;
    const problem = collectionProblem(name);
    if (problem) throw new CollectionsError(`${where}: ${problem}`);
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new CollectionsError(`${where}: expected an object`);
    const def = raw as Record<string, unknown>;
    for (const k of Object.keys(def)) if (!ALLOWED.has(k)) throw new CollectionsError(`${where}: unknown key "${k}" (allowed: ${[...ALLOWED].join(', ')})`);
    const str = (k: string): string | undefined => {
      const v = def[k];
      if (v === undefined) return undefined;
      if (typeof v !== 'string' || v === '') throw new CollectionsError(`${where}.${k}: expected a non-empty string`);
      return v;
    };
    const mediaType = (k: string): string | undefined => {
      const v = str(k);
      const problem = v === undefined ? undefined : mediaTypeProblem(v);
      if (problem) throw new CollectionsError(`${where}.${k}: not a valid media type: ${problem}`);
      return v;
    };
    const contentType = mediaType('contentType') ?? DEFAULT_CONTENT_TYPE;
    const fallbackContentType = mediaType('fallbackContentType');
    const fallback = str('fallback');
    const query = str('query');
    const missing = str('missing') ?? 'not-found';
    if (!(MISSING as readonly string[]).includes(missing)) throw new CollectionsError(`${where}.missing: expected "not-found" (404, the default) or "fallback", got ${JSON.stringify(missing)}`);
    if (missing === 'fallback' && fallback === undefined) throw new CollectionsError(`${where}.missing: "fallback" answers a missing key with the fallback body: give one ("fallback": "…")`);
    // --- origin collections (issue 12) ---
    let origin: OriginDef | undefined;
    try {
      origin = parseOrigin(where, def, limits.deadlineMs);
    } catch (err) {
      if (err instanceof OriginOptionError) throw new CollectionsError(err.message);
      throw err;
    }
    // --- end origin collections ---
    out.set(name, {
      missing: missing as CollectionDef['missing'],
      name,
      ttlMs: def.ttl === undefined ? defaultTtlMs : parseTtl(where, def.ttl),
      contentType,
      ...(fallback === undefined ? {} : { fallback: { body: Buffer.from(fallback), contentType: fallbackContentType ?? contentType } }),
      ...(query === undefined ? {} : { query }),
      ...(origin === undefined ? {} : { origin }),
    });
  }
  return out;
}

export async function loadCollections(file: string, defaultTtlMs: number, limits: CollectionLimits = DEFAULT_LIMITS): Promise<Map<string, CollectionDef>> {
  if (file === '') return parseCollections(undefined, defaultTtlMs, 'collections', limits);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new CollectionsError(`cannot read collections file ${file}: ${(err as Error).message}`);
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new CollectionsError(`collections file ${file} is not valid JSON: ${(err as Error).message}`);
  }
  return parseCollections(doc, defaultTtlMs, file, limits);
}
