// The result of a run (or of several merged runs): plain counts, exact histograms, a per-second timeline. Every
// report (terminal, JSON, HTML) and every judgement (thresholds, verdict) is derived from this one model.
import { latencyStats, type Histogram, type LatencyStats } from './histogram.ts';
import { ERROR_KINDS, isTimeoutKind, type ErrorKind } from './outcome.ts';
import type { Stage } from './schedule.ts';
import type { IntervalCounts } from './recorder.ts';

/** What was run, as the user asked for it (templates unexpanded). */
export interface Scenario {
  readonly name: string | null;
  readonly url: string;
  readonly method: string;
  readonly headers: readonly string[];
  readonly body: string | null;
  readonly model: 'closed' | 'open';
  /** Closed: virtual users. Open: the most connections. Summed over merged runs. */
  readonly connections: number;
  readonly threads: number;
  readonly stages: readonly Stage[];
  readonly durationMs: number | null;
  readonly requests: number | null;
  readonly timeoutMs: number;
  readonly thinkMs: { readonly min: number; readonly max: number } | null;
  readonly newConnection: boolean;
  readonly insecure: boolean;
  readonly ok: string;
}

/** One machine's run; a merged result lists every run it was made of. */
export interface RunInfo {
  readonly host: string;
  /** Epoch milliseconds. */
  readonly startedAt: number;
  readonly durationMs: number;
  readonly threads: number;
  readonly connections: number;
  readonly url: string;
}

export type FailureCounts = Record<ErrorKind, number>;

/** A run's (or a second's) counts: a thread's interval counts added up, plus what only the whole run knows. */
export interface Counts extends IntervalCounts {
  /** Open model: scheduled sends still waiting for a connection when the run ended. */
  missedSends: number;
  /** Status code → count, every response. */
  statuses: Record<string, number>;
  failures: FailureCounts;
}

export interface GeneratorSecond {
  /** Highest event-loop utilisation of any generator thread, 0..1. */
  elu: number;
  /** Highest CPU of any generator thread, in cores. */
  cpu: number;
  /** Highest event-loop delay p99 / max of any thread, ms. */
  loopDelayP99: number;
  loopDelayMax: number;
  /** Open connections at the end of the second. */
  connections: number;
  /** Open model: send delay p99 in this second, ms. */
  sendDelayP99: number;
  lateSends: number;
  waitedForConnection: number;
}

export interface SecondEntry {
  /** Seconds since the start. */
  readonly second: number;
  /** Length of this slice, ms (1000 except, possibly, the last). */
  durationMs: number;
  counts: Counts;
  /** Open model: the schedule's requests per second over this slice. */
  targetRps: number | null;
  /** Encoded histograms of this second, µs: successes (corrected) and failures. */
  histograms: { success: string | null; failure: string | null };
  /** Summary of `histograms.success`, ms. */
  latency: LatencyStats;
  generator: GeneratorSecond;
}

export interface Stopped {
  readonly reason: 'bail' | 'interrupt';
  readonly second: number;
  readonly detail: string;
}

export interface FloodResult {
  readonly scenario: Scenario;
  readonly runs: readonly RunInfo[];
  /** Epoch ms of the earliest run's start. */
  readonly startedAt: number;
  /** Longest run's duration, ms (merged runs are assumed to have run at the same time). */
  readonly durationMs: number;
  readonly counts: Counts;
  readonly histograms: {
    /** Successful responses, µs, from the schedule (open model) or from the send (closed model). */
    readonly success: Histogram;
    /** Successful responses, µs, from when they actually left. Equals `success` in the closed model. */
    readonly uncorrected: Histogram;
    readonly failure: Histogram;
    readonly connect: Histogram;
    /** Open model: how late requests left compared with their schedule, µs. */
    readonly sendDelay: Histogram;
  };
  readonly timeline: readonly SecondEntry[];
  readonly stopped: Stopped | null;
}

export function emptyFailures(): FailureCounts {
  return Object.fromEntries(ERROR_KINDS.map((k) => [k, 0])) as FailureCounts;
}

export function emptyCounts(): Counts {
  return {
    sent: 0, ok: 0, responses: 0, bytesIn: 0, bytesOut: 0, connects: 0, lateSends: 0, waitedForConnection: 0,
    missedSends: 0, statuses: {}, failures: emptyFailures(),
  };
}

export function addCounts(into: Counts, from: Counts): void {
  into.sent += from.sent;
  into.ok += from.ok;
  into.responses += from.responses;
  into.bytesIn += from.bytesIn;
  into.bytesOut += from.bytesOut;
  into.connects += from.connects;
  into.lateSends += from.lateSends;
  into.waitedForConnection += from.waitedForConnection;
  into.missedSends += from.missedSends;
  for (const [code, n] of Object.entries(from.statuses)) into.statuses[code] = (into.statuses[code] ?? 0) + n;
  for (const k of ERROR_KINDS) into.failures[k] += from.failures[k];
}

/** The figures of the reference posts' table, plus throughput, for one set of counts. */
export interface Tally {
  /** Requests that finished, whatever the outcome. */
  readonly hits: number;
  /** Responses with a status counted as success. */
  readonly ok: number;
  /** Error statuses and failures other than timeouts. */
  readonly errors: number;
  /** Connect and response timeouts. */
  readonly timeouts: number;
  /** (errors + timeouts) / hits. */
  readonly errorRate: number;
}

export function tally(c: Counts): Tally {
  let failures = 0;
  let timeouts = 0;
  for (const k of ERROR_KINDS) {
    if (isTimeoutKind(k)) timeouts += c.failures[k];
    else failures += c.failures[k];
  }
  const hits = c.responses + failures + timeouts;
  const errors = c.responses - c.ok + failures;
  return { hits, ok: c.ok, errors, timeouts, errorRate: hits === 0 ? 0 : (errors + timeouts) / hits };
}

export interface Summary extends Tally {
  readonly durationS: number;
  /** Finished requests per second. */
  readonly rps: number;
  /** Successful responses per second. */
  readonly okRps: number;
  readonly latency: LatencyStats;
  readonly uncorrected: LatencyStats;
  readonly failureLatency: LatencyStats;
  readonly connect: LatencyStats;
  readonly sendDelay: LatencyStats;
}

export function summarize(r: FloodResult): Summary {
  const t = tally(r.counts);
  const durationS = Math.max(r.durationMs, 1) / 1000;
  return {
    ...t,
    durationS,
    rps: t.hits / durationS,
    okRps: t.ok / durationS,
    latency: latencyStats(r.histograms.success),
    uncorrected: latencyStats(r.histograms.uncorrected),
    failureLatency: latencyStats(r.histograms.failure),
    connect: latencyStats(r.histograms.connect),
    sendDelay: latencyStats(r.histograms.sendDelay),
  };
}

/** A short label for a scenario in tables: its name, or method and URL. */
export function scenarioLabel(s: Scenario): string {
  return s.name ?? `${s.method} ${s.url}`;
}
