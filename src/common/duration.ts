// The one duration grammar of the project: "30s", "250ms", "1m30s", "1.5s", "800us"; units case-insensitive.
// Used by the server's configuration (config.ts), collections (content/collections.ts) and flood's options
// (flood/units.ts); each caller words its own error.

/** Milliseconds per unit. */
const UNITS: Readonly<Record<string, number>> = { us: 0.001, µs: 0.001, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
const PART = /(\d+(?:\.\d+)?)(us|µs|ms|s|m|h)/iy;
const BARE = /^\d+(?:\.\d+)?$/;

/**
 * Milliseconds of `text`, or undefined when it is not a duration. A bare number is in `bareUnit` ('0' is 0
 * without one); without a bareUnit a bare number is refused: units are never guessed.
 */
export function parseDurationMs(text: string, bareUnit?: 'ms' | 's'): number | undefined {
  const s = text.trim();
  if (BARE.test(s)) {
    if (bareUnit !== undefined) return Number(s) * (UNITS[bareUnit] as number);
    return Number(s) === 0 ? 0 : undefined;
  }
  let total = 0;
  let at = 0;
  while (at < s.length) {
    PART.lastIndex = at;
    const m = PART.exec(s);
    if (!m) return undefined;
    total += Number(m[1]) * (UNITS[(m[2] ?? '').toLowerCase()] ?? Number.NaN);
    at = PART.lastIndex;
  }
  return s.length === 0 || !Number.isFinite(total) ? undefined : total;
}
