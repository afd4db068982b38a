// The options of an origin collection (a collection backed by an existing HTTP endpoint that floodgate
// shields), parsed and validated at start with messages that name the option. docs/origins.md explains them.
import { parseDurationMs } from '../common/duration.ts';

export interface OriginDef {
  /** http(s)://host:port/path?query with one or more `{key}`, each replaced by the key, URL-encoded. */
  readonly url: string;
  /** How long a read waits for the origin, queue included, ms; under the read deadline. */
  readonly timeoutMs: number;
  /** Requests in flight to the origin at most (the connection pool's size). */
  readonly concurrency: number;
  /** Requests waiting for one of those at most; beyond it a miss is answered stale, fallback or 503 at once. */
  readonly queue: number;
  /** Request headers passed on to the origin (lower-case names). */
  readonly forwardHeaders: readonly string[];
  /** Largest origin body accepted, bytes; a larger one is refused (an error) and counted. */
  readonly bodyLimit: number;
}

export const ORIGIN_KEYS = ['origin', 'originTimeout', 'originConcurrency', 'originQueue', 'originBodyLimit', 'forwardHeaders'] as const;

/** Braze's own cap on a Connected Content answer. */
export const DEFAULT_ORIGIN_BODY_LIMIT = 1024 * 1024;
const TOKEN = /^[!#$%&'*+.^_`|~0-9a-z-]+$/;
/** Hop-by-hop and framing headers: the origin connection's own business, never forwarded. */
const NOT_FORWARDED = new Set(['connection', 'keep-alive', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'proxy-authorization', 'proxy-connection', 'host', 'content-length', 'expect']);

export class OriginOptionError extends Error {
  override readonly name = 'OriginOptionError';
}

/**
 * The origin of a collection definition, or undefined when it has none. `deadlineMs` is the server's read
 * deadline: originTimeout must be under it, so a read always has time left to answer stale or the fallback.
 */
export function parseOrigin(where: string, def: Readonly<Record<string, unknown>>, deadlineMs: number): OriginDef | undefined {
  const bad = (k: string, what: string): never => {
    throw new OriginOptionError(`${where}.${k}: ${what} (got ${JSON.stringify(def[k])})`);
  };
  if (def.origin === undefined) {
    const stray = ORIGIN_KEYS.find((k) => def[k] !== undefined);
    if (stray) throw new OriginOptionError(`${where}.${stray}: only an origin collection takes it; add "origin": "http://host/path/{key}"`);
    return undefined;
  }
  if (def.query !== undefined) throw new OriginOptionError(`${where}: a collection has either "origin" or "query", not both`);
  const url = def.origin;
  if (typeof url !== 'string') return bad('origin', 'expected a URL string such as "http://recs.internal:8000/users/{key}/recs"');
  if (!url.includes('{key}')) bad('origin', 'the URL must contain {key}, replaced by the requested key');
  let parsed: URL;
  try {
    parsed = new URL(url.replaceAll('{key}', 'k'));
  } catch {
    return bad('origin', 'not a valid URL');
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') bad('origin', 'only http:// and https:// origins are supported');
  if (parsed.username !== '' || parsed.password !== '') bad('origin', 'credentials in the URL are not supported; forward an Authorization header instead');
  const afterScheme = url.indexOf('://') + 3;
  const pathAt = url.slice(afterScheme).search(/[/?]/);
  if (pathAt === -1 || afterScheme + pathAt > url.indexOf('{key}')) bad('origin', '{key} may appear only in the path or the query, not in the host');
  if (parsed.hash !== '') bad('origin', 'a URL fragment is never sent; remove it');

  const timeoutMs = duration(def.originTimeout, Math.min(800, Math.floor(deadlineMs * 0.8)), (what) => bad('originTimeout', what));
  if (timeoutMs >= deadlineMs) bad('originTimeout', `must be under the read deadline (--deadline ${deadlineMs}ms), so a read has time left to answer stale content or the fallback`);
  const concurrency = int(def.originConcurrency, 32, 1, 10_000, (what) => bad('originConcurrency', what));
  const queue = int(def.originQueue, 1000, 0, 1_000_000, (what) => bad('originQueue', what));
  const bodyLimit = int(def.originBodyLimit, DEFAULT_ORIGIN_BODY_LIMIT, 1, 64 * 1024 * 1024, (what) => bad('originBodyLimit', what));
  const fh = def.forwardHeaders ?? [];
  if (!Array.isArray(fh) || fh.some((h) => typeof h !== 'string')) return bad('forwardHeaders', 'expected an array of header names, e.g. ["accept-language"]');
  const forwardHeaders = (fh as string[]).map((h) => h.toLowerCase());
  for (const h of forwardHeaders) {
    if (!TOKEN.test(h)) bad('forwardHeaders', `${JSON.stringify(h)} is not a header name`);
    if (NOT_FORWARDED.has(h)) bad('forwardHeaders', `${h} belongs to the connection and is never forwarded`);
  }
  return { url, timeoutMs, concurrency, queue, forwardHeaders: [...new Set(forwardHeaders)], bodyLimit };
}

function duration(v: unknown, dflt: number, bad: (what: string) => never): number {
  if (v === undefined) return dflt;
  // The grammar of every duration (common/duration.ts): a unit is required, as for ttl.
  const ms = typeof v === 'string' ? parseDurationMs(v) : undefined;
  if (ms === undefined || !Number.isFinite(ms) || ms < 1) return bad('expected a duration with a unit, such as "800ms" or "2s"');
  return Math.round(ms);
}

function int(v: unknown, dflt: number, min: number, max: number, bad: (what: string) => never): number {
  if (v === undefined) return dflt;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) return bad(`expected a whole number from ${min} to ${max}`);
  return v;
}
