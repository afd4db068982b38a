// What a read hands the edge: the content (or a remembered absence), its validator, and how the tiers found
// it. The memory tier's entries are such results as they are (no copy on the hot path); with the memory tier
// off, the service builds one per read (uncached).
import { createHash } from 'node:crypto';
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

export function etagOf(body: Buffer): string {
  return `"${createHash('sha1').update(body).digest('base64url').slice(0, 22)}"`;
}

/** A read's content where no cache holds it (the memory tier is off). */
export function uncached(record: ContentRecord | undefined): CachedContent {
  return record ? { record, etag: etagOf(record.body) } : { record: undefined, etag: '' };
}
