// Parsing and formatting of the units flood speaks: durations ("30s", "250ms", "1m30s"), rates, percentages.
import { parseDurationMs } from '../common/duration.ts';
import { UsageError } from './usage.ts';

/** Parses "30s", "250ms", "1m30s", "1.5s", "800us" into milliseconds. A bare number is refused: units are never guessed. */
export function parseDuration(text: string, what: string): number {
  const ms = parseDurationMs(text);
  if (ms === undefined) {
    throw new UsageError(`${what}: '${text}' is not a duration; write it with a unit, e.g. 30s, 250ms, 1m30s, 800us`);
  }
  return ms;
}

/** Parses a positive (or zero, when allowed) integer count such as a number of connections. */
export function parseCount(text: string, what: string, min = 1): number {
  const s = text.trim().replaceAll('_', '');
  const n = /^\d+$/.test(s) ? Number(s) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < min) {
    throw new UsageError(`${what}: '${text}' is not a whole number${min > 0 ? ` of at least ${min}` : ''}`);
  }
  return n;
}

/** Parses a rate in requests per second ("5000", "2.5", "5k"). */
export function parseRate(text: string, what: string): number {
  const m = /^(\d+(?:\.\d+)?)(k?)$/i.exec(text.trim().replaceAll('_', ''));
  const n = m ? Number(m[1]) * (m[2] ? 1000 : 1) : Number.NaN;
  if (!Number.isFinite(n) || n < 0) throw new UsageError(`${what}: '${text}' is not a rate in requests per second, e.g. 500 or 5k`);
  return n;
}

/** Parses "0.1%" into 0.001. */
export function parsePercent(text: string, what: string): number {
  const m = /^(\d+(?:\.\d+)?)%$/.exec(text.trim());
  const n = m ? Number(m[1]) / 100 : Number.NaN;
  if (!Number.isFinite(n) || n > 1) throw new UsageError(`${what}: '${text}' is not a percentage such as 0.1% or 50%`);
  return n;
}

/** Formats milliseconds for people: "850 µs", "12.3 ms", "1.25 s". */
export function formatMs(ms: number): string {
  if (!Number.isFinite(ms)) return '-';
  if (ms < 1) return `${Math.round(ms * 1000)} µs`;
  if (ms < 10) return `${ms.toFixed(2)} ms`;
  if (ms < 1000) return `${ms.toFixed(1)} ms`;
  return `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;
}

/** Formats a duration given in milliseconds compactly: "30s", "1m30s", "250ms". */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  const s = Math.round(ms / 100) / 10;
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  const rest = Math.round(s - m * 60);
  return rest === 0 ? `${m}m` : `${m}m${rest}s`;
}

const INT = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });
/** 12,345 */
export function formatInt(n: number): string {
  return INT.format(n);
}

/** 0.1234 → "12.34%" */
export function formatPercent(fraction: number): string {
  if (!Number.isFinite(fraction)) return '-';
  const p = fraction * 100;
  return `${p === 0 ? '0' : p < 0.01 ? p.toPrecision(1) : p.toFixed(2)}%`;
}

/** 0.873 → "87%": shares of a core or of the event loop, where decimals would be noise. */
export function pct(fraction: number): string {
  return Number.isFinite(fraction) ? `${Math.round(fraction * 100)}%` : '-';
}
