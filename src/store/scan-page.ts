// A page of Store.scan read as ONE row (both stores): every column aggregated over the page's rows in one pass,
// so all in the same order: the keys joined by a separator, the bodies concatenated into one blob, their byte
// lengths, versions and update times as comma-separated numbers, the smallest and largest content type (equal:
// the page's only one) and the largest key (where the next page starts). Measured over 1,000,000 demo users: half
// the CPU of a row per record, which the drivers spend making a buffer and an object for every row.
import type { ContentRecord } from '../content/record.ts';

/** The page row as the drivers hand it over. */
export interface ScanPageRow {
  n: number | string;
  last: string | null;
  keys: string | null;
  bodies: Uint8Array | null;
  lengths: string | null;
  type: string | null;
  last_type: string | null;
  versions: string | null;
  updated: string | null;
}

/** How a dialect writes the aggregates of scanPageSql. */
export interface ScanDialect {
  /** The keys joined by a separator no key may hold. */
  readonly keys: string;
  /** The bodies concatenated into one blob. */
  readonly bodies: string;
  /** An integer expression as text, for string_agg. */
  readonly text: (expr: string) => string;
  /** updated_at in epoch ms, as an integer. */
  readonly ms: string;
}

/** The aggregated page over `page`: a SELECT of key, body, content_type, version and updated_at, ordered by key, with its LIMIT. */
export function scanPageSql(page: string, d: ScanDialect): string {
  return `SELECT count(*) AS n, max(key) AS last, ${d.keys} AS keys, ${d.bodies} AS bodies,
          string_agg(${d.text('octet_length(body)')}, ',') AS lengths, min(content_type) AS type, max(content_type) AS last_type,
          string_agg(${d.text('version')}, ',') AS versions, string_agg(${d.text(d.ms)}, ',') AS updated FROM (${page}) p`;
}

/**
 * The records of a page row, their bodies views of its one blob; undefined when it does not split back into
 * exactly its count of records (a key holding the separator, several content types, a number that is not one):
 * the caller then reads that page row by row.
 */
export function recordsOfPage(collection: string, page: ScanPageRow, separator: string): ContentRecord[] | undefined {
  const n = Number(page.n);
  if (n === 0) return [];
  if (page.type === null || page.type !== page.last_type) return undefined;
  const keys = (page.keys ?? '').split(separator);
  const lengths = numbers(page.lengths ?? '', n);
  const versions = numbers(page.versions ?? '', n);
  const updated = numbers(page.updated ?? '', n);
  if (keys.length !== n || lengths === undefined || versions === undefined || updated === undefined) return undefined;
  const blob = page.bodies ?? new Uint8Array(0);
  const bodies = Buffer.from(blob.buffer, blob.byteOffset, blob.byteLength);
  const type = page.type;
  const out = new Array<ContentRecord>(n);
  let at = 0;
  for (let i = 0; i < n; i++) {
    const len = lengths[i] as number;
    out[i] = { collection, key: keys[i] as string, body: bodies.subarray(at, at + len), contentType: type, version: versions[i] as number, updatedAt: updated[i] as number };
    at += len;
  }
  return at === bodies.length ? out : undefined;
}

/**
 * `n` comma-separated numbers, or undefined when the text is not exactly that. Whole non-negative numbers are
 * read digit by digit (no string per number: a page holds three columns of them); any other form (a sign, a
 * fraction) goes through Number().
 */
export function numbers(text: string, n: number): Float64Array | undefined {
  const out = new Float64Array(n);
  let count = 0;
  let value = 0;
  let digits = 0;
  for (let i = 0; i <= text.length; i++) {
    const c = i === text.length ? 44 : text.charCodeAt(i);
    if (c >= 48 && c <= 57) {
      value = value * 10 + (c - 48);
      digits++;
    } else if (c === 44 && digits > 0 && digits < 16 && count < n) {
      out[count++] = value;
      value = 0;
      digits = 0;
    } else {
      const parts = text.split(',');
      if (parts.length !== n) return undefined;
      for (let j = 0; j < n; j++) {
        const v = Number(parts[j]);
        if (parts[j] === '' || !Number.isFinite(v)) return undefined;
        out[j] = v;
      }
      return out;
    }
  }
  return count === n ? out : undefined;
}
