// Would the caller have marked this host unhealthy? Braze's rule, as issue 10 states it: over 3,000 failures AND
// over 90 % of calls failing within a one-minute window, where a failure is a 408, 429, 502, 503, 504 or 529
// answer, a timeout or a connection error. The window here is sliding, in one-second steps: every run of 60
// consecutive one-second buckets (calls bucketed by the second they ended in) is judged, which includes every
// calendar minute, so it trips whenever a per-calendar-minute rule would (and also on a bad minute that straddles
// two calendar minutes). A run shorter than a minute is one window. Pure arithmetic over buckets: unit-tested on
// synthetic ones.

export interface UnhealthyRule {
  /** More failures than this in the window… */
  readonly failuresOver: number;
  /** …and a failure share above this (0..1)… */
  readonly shareOver: number;
  /** …within this many one-second buckets. */
  readonly windowSeconds: number;
}

export const BRAZE_RULE: UnhealthyRule = { failuresOver: 3000, shareOver: 0.9, windowSeconds: 60 };

/** The statuses the rule counts as failures; every connection-level failure and timeout counts as well. */
export const FAILURE_STATUSES: readonly number[] = [408, 429, 502, 503, 504, 529];
const FAILURE_TABLE = new Uint8Array(1000);
for (const s of FAILURE_STATUSES) FAILURE_TABLE[s] = 1;

export function isCallerFailureStatus(status: number): boolean {
  return status < 1000 && FAILURE_TABLE[status] === 1;
}

/** One second of calls: how many ended, and how many of those the rule counts as failures. */
export interface CallBucket {
  readonly calls: number;
  readonly failures: number;
}

export interface WindowFigures {
  /** First second of the window (0-based, from the start of the run). */
  readonly fromSecond: number;
  /** Seconds the window covers (less than the rule's for a short run). */
  readonly seconds: number;
  readonly calls: number;
  readonly failures: number;
  /** failures / calls, 0 when there were no calls. */
  readonly share: number;
}

export interface UnhealthyVerdict {
  readonly tripped: boolean;
  /** The first window that tripped, or null. */
  readonly firstTrip: WindowFigures | null;
  /** The window with the most failures (the earliest of equals), or null for an empty run. */
  readonly worst: WindowFigures | null;
  readonly rule: UnhealthyRule;
}

function trips(w: WindowFigures, rule: UnhealthyRule): boolean {
  return w.failures > rule.failuresOver && w.share > rule.shareOver;
}

export function judgeUnhealthy(buckets: readonly CallBucket[], rule: UnhealthyRule = BRAZE_RULE): UnhealthyVerdict {
  if (buckets.length === 0) return { tripped: false, firstTrip: null, worst: null, rule };
  const width = Math.min(rule.windowSeconds, buckets.length);
  let calls = 0;
  let failures = 0;
  let firstTrip: WindowFigures | null = null;
  let worst: WindowFigures | null = null;
  for (let i = 0; i < buckets.length; i++) {
    calls += buckets[i]?.calls ?? 0;
    failures += buckets[i]?.failures ?? 0;
    if (i >= width) {
      calls -= buckets[i - width]?.calls ?? 0;
      failures -= buckets[i - width]?.failures ?? 0;
    }
    if (i < width - 1) continue;
    const w: WindowFigures = { fromSecond: i - width + 1, seconds: width, calls, failures, share: calls === 0 ? 0 : failures / calls };
    if (firstTrip === null && trips(w, rule)) firstTrip = w;
    if (worst === null || w.failures > worst.failures) worst = w;
  }
  return { tripped: firstTrip !== null, firstTrip, worst, rule };
}
