// An origin's Cache-Control, read as a shared cache reads it (RFC 9111 §5.2.2, RFC 5861), into the freshness
// of one record. Exactly these directives are honoured (docs/origins.md has the same list):
//   s-maxage=N (wins over max-age), max-age=N   fresh for N s, less the Age header
//   no-store, private                           not cached at all (only the reads waiting on it get it)
//   no-cache                                    stale at once and never served stale while revalidating
//   must-revalidate, proxy-revalidate           never served stale (neither window)
//   stale-while-revalidate=N                    served stale for N s while one background load refreshes it
//   stale-if-error=N                            served stale for N s while the origin fails
// Anything else (Expires, Vary, …) is ignored; without any of these the collection's TTL and --stale-ttl apply.
import type { Freshness } from '../content/record.ts';

/** The record's freshness, or undefined when the header says nothing floodgate honours. */
export function freshnessOf(cacheControl: string | undefined, age: string | undefined, defaultTtlMs: number): Freshness | undefined {
  if (cacheControl === undefined || cacheControl.trim() === '') return undefined;
  const d = directives(cacheControl);
  if (d.has('no-store') || d.has('private')) return { ttlMs: 0, staleMs: 0, staleIfErrorMs: 0, noStore: true };
  const seconds = (name: string): number | undefined => {
    const v = d.get(name);
    return v !== undefined && /^\d+$/.test(v) ? Math.min(Number(v), 365 * 86_400) : undefined;
  };
  const maxAge = seconds('s-maxage') ?? seconds('max-age');
  const swr = seconds('stale-while-revalidate');
  const sie = seconds('stale-if-error');
  const noCache = d.has('no-cache');
  const mustRevalidate = d.has('must-revalidate') || d.has('proxy-revalidate');
  if (maxAge === undefined && swr === undefined && sie === undefined && !noCache && !mustRevalidate) return undefined;
  const ageS = age !== undefined && /^\d+$/.test(age.trim()) ? Number(age.trim()) : 0;
  const ttlMs = noCache ? 0 : maxAge === undefined ? defaultTtlMs : Math.max(0, maxAge - ageS) * 1000;
  return {
    ttlMs,
    ...(mustRevalidate || noCache ? { staleMs: 0 } : swr === undefined ? {} : { staleMs: swr * 1000 }),
    ...(mustRevalidate ? { staleIfErrorMs: 0 } : sie === undefined ? {} : { staleIfErrorMs: sie * 1000 }),
  };
}

/** Directive names (lower-case) and their values (unquoted; '' when none). A repeated directive: the first wins. */
function directives(header: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of header.split(',')) {
    const eq = part.indexOf('=');
    const name = (eq === -1 ? part : part.slice(0, eq)).trim().toLowerCase();
    if (name === '' || out.has(name)) continue;
    let value = eq === -1 ? '' : part.slice(eq + 1).trim();
    if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
    out.set(name, value);
  }
  return out;
}
