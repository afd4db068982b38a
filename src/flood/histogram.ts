// Latency histograms: HdrHistogram (hdr-histogram-js) at microsecond resolution, 3 significant digits, auto-resizing.
// Histograms travel between threads and runs in HdrHistogram's standard compressed base64 form ("HISTF…"), so
// merging is exact: counts are added bucket by bucket, never percentiles averaged.
import * as hdr from 'hdr-histogram-js';
import type { Histogram } from 'hdr-histogram-js';

export type { Histogram };

export function newHistogram(): Histogram {
  return hdr.build({ bitBucketSize: 32, numberOfSignificantValueDigits: 3, autoResize: true, lowestDiscernibleValue: 1 });
}

/** Encodes a histogram; empty histograms encode as null. */
export function encodeHistogram(h: Histogram): string | null {
  return h.totalCount === 0 ? null : hdr.encodeIntoCompressedBase64(h);
}

export function decodeHistogram(encoded: string | null | undefined): Histogram {
  if (encoded === null || encoded === undefined || encoded === '') return newHistogram();
  const decoded = hdr.decodeFromCompressedBase64(encoded, 32, false);
  // decoded histograms come back with the encoder's range; make them growable like our own
  decoded.autoResize = true;
  return decoded;
}

/** Adds an encoded histogram into `into`. */
export function addEncoded(into: Histogram, encoded: string | null | undefined): void {
  if (encoded) into.add(decodeHistogram(encoded));
}

/** Latency figures in milliseconds, from a histogram of microseconds. */
export interface LatencyStats {
  readonly count: number;
  readonly min: number;
  readonly mean: number;
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly p999: number;
  readonly max: number;
}

export const EMPTY_STATS: LatencyStats = { count: 0, min: 0, mean: 0, p50: 0, p90: 0, p99: 0, p999: 0, max: 0 };

export function latencyStats(h: Histogram): LatencyStats {
  if (h.totalCount === 0) return EMPTY_STATS;
  return {
    count: h.totalCount,
    min: h.minNonZeroValue === Number.MAX_SAFE_INTEGER ? 0 : h.minNonZeroValue / 1000,
    mean: h.mean / 1000,
    p50: h.getValueAtPercentile(50) / 1000,
    p90: h.getValueAtPercentile(90) / 1000,
    p99: h.getValueAtPercentile(99) / 1000,
    p999: h.getValueAtPercentile(99.9) / 1000,
    max: h.maxValue / 1000,
  };
}

/** The value at any percentile, in milliseconds. */
export function percentileMs(h: Histogram, percentile: number): number {
  return h.totalCount === 0 ? 0 : h.getValueAtPercentile(percentile) / 1000;
}

/** Records a duration given in milliseconds as whole microseconds. */
export function recordMs(h: Histogram, ms: number): void {
  h.recordValue(ms <= 0 ? 0 : Math.round(ms * 1000));
}
