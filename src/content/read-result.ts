// What a read hands the edge: the content (or a remembered absence), its validator, and how the tiers found
// it. The memory tier's entries are such results as they are (no copy on the hot path); with the memory tier
// off, the service builds one per read (uncached).
import { hash } from 'node:crypto';
import type { ContentRecord } from './record.ts';

/** How one read was answered by the tiers; drives the X-Cache header and the metric label. */
export type Outcome = 'hit' | 'miss' | 'stale' | 'coalesced' | 'error-stale';
export const OUTCOMES: readonly Outcome[] = ['hit', 'miss', 'stale', 'coalesced', 'error-stale'];

/** Content as the edge answers it. */
export interface CachedContent {
  /** undefined for content known not to exist (a remembered 404, or a deletion). */
  readonly record: ContentRecord | undefined;
  /** Strong validator: a hash of the body, so equal content has equal ETags on every instance. '' without a record. */
  readonly etag: string;
  /** Clock time (ms) until which it is fresh, where a tier knows it: a stale answer's Age is derived from it. */
  readonly freshUntil?: number;
}

export interface ReadResult {
  readonly entry: CachedContent;
  readonly outcome: Outcome;
}

/**
 * A body's validator as a number: the first 48 bits of its SHA-1 (a double holds them exactly), so the memory
 * tier keeps it in a Float64Array and formats it only when it answers (etagText). crypto.hash() in one call, as
 * hex: for 140-byte bodies a third of the CPU of createHash().update().digest() (no Hash object, no digest
 * Buffer), which a preload of a million entries pays a million times.
 */
export function etagNumberOf(body: Buffer): number {
  return Number.parseInt(hash('sha1', body, 'hex').slice(0, 12), 16);
}

const B64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
/** Every 12-bit value as two base64url characters: formatting an ETag is four look-ups, not a toString(). */
const PAIRS = Array.from({ length: 4096 }, (_, i) => (B64URL[i >> 6] as string) + (B64URL[i & 63] as string));

/** The ETag header value of an etagNumberOf number: eight base64url characters, quoted. */
export function etagText(n: number): string {
  const hi = Math.floor(n / 16_777_216); // the top 24 bits
  const lo = n - hi * 16_777_216;
  return '"' + (PAIRS[hi >>> 12] as string) + (PAIRS[hi & 4095] as string) + (PAIRS[lo >>> 12] as string) + (PAIRS[lo & 4095] as string) + '"';
}

export function etagOf(body: Buffer): string {
  return etagText(etagNumberOf(body));
}

/** A read's content where no cache holds it (the memory tier is off). */
export function uncached(record: ContentRecord | undefined): CachedContent {
  return record ? { record, etag: etagOf(record.body) } : { record: undefined, etag: '' };
}
