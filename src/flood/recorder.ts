// What one thread counts during one second. The hot path only increments numbers and records into histograms;
// once per second (and at the end) the thread turns it into an IntervalReport (histograms encoded) for the main
// thread, and starts over.
import { newHistogram, encodeHistogram, recordMs, type Histogram } from './histogram.ts';
import { ERROR_KINDS } from './outcome.ts';
import type { GeneratorSample } from './monitor.ts';

/** A send that left this much later than its schedule while a connection was free is the generator's fault. */
export const LATE_SEND_MS = 10;

export interface IntervalCounts {
  /** Requests written (or begun: a connect on the way to writing one). */
  sent: number;
  /** Responses with a status counted as success (--ok). */
  ok: number;
  /** HTTP responses of any status. */
  responses: number;
  bytesIn: number;
  bytesOut: number;
  /** Connections opened (TCP connect, plus TLS handshake on https). */
  connects: number;
  /** Open model: sends that left more than LATE_SEND_MS after their schedule although a connection was free. */
  lateSends: number;
  /** Open model: sends that had to wait for a free connection (the pool, -c, was exhausted). */
  waitedForConnection: number;
}

export interface IntervalReport {
  readonly thread: number;
  /** Second index since the start of the run. */
  readonly second: number;
  /** The last report of this thread. */
  readonly final: boolean;
  readonly counts: IntervalCounts;
  /** [status code, count] pairs. */
  readonly statuses: readonly (readonly [number, number])[];
  /** Failure counts in ERROR_KINDS order. */
  readonly errors: readonly number[];
  readonly histograms: {
    /** Latency of successful responses (from the schedule in the open model), µs. */
    readonly success: string | null;
    /** Open model: latency of successes from when they actually left (uncorrected), µs. */
    readonly uncorrected: string | null;
    /** Latency of failures (error statuses, socket errors, timeouts), µs. */
    readonly failure: string | null;
    /** Connect (+ TLS handshake) time, µs. */
    readonly connect: string | null;
    /** Open model: how late each request left compared with its schedule, µs. */
    readonly sendDelay: string | null;
  };
  readonly generator: GeneratorSample & { readonly connections: number };
  /** Final report only: scheduled requests never sent before the run ended (open model). */
  readonly missedSends: number;
  /** Final report only: how long this thread ran, from the start to its last request's end, ms. */
  readonly elapsedMs: number;
}

export class Recorder {
  readonly success: Histogram = newHistogram();
  /** The same object as `success` in the closed model, where there is no schedule to correct for. */
  readonly uncorrected: Histogram;
  readonly failure: Histogram = newHistogram();
  readonly connect: Histogram = newHistogram();
  readonly sendDelay: Histogram = newHistogram();
  readonly statuses = new Uint32Array(1000);
  readonly errors = new Uint32Array(ERROR_KINDS.length);
  counts: IntervalCounts = emptyCounts();
  readonly #open: boolean;

  constructor(open: boolean) {
    this.#open = open;
    this.uncorrected = open ? newHistogram() : this.success;
  }

  /** A response arrived: `sinceDue` from the schedule (= `sinceSent` in the closed model), ms. */
  response(status: number, ok: boolean, sinceDue: number, sinceSent: number): void {
    this.counts.responses++;
    this.statuses[status < 1000 ? status : 999]!++;
    if (ok) {
      this.counts.ok++;
      recordMs(this.success, sinceDue);
      if (this.#open) recordMs(this.uncorrected, sinceSent);
    } else {
      recordMs(this.failure, sinceDue);
    }
  }

  failed(kindIndex: number, sinceDue: number): void {
    this.errors[kindIndex]!++;
    recordMs(this.failure, sinceDue);
  }

  report(thread: number, second: number, final: boolean, generator: IntervalReport['generator'], missedSends = 0, elapsedMs = 0): IntervalReport {
    const statuses: [number, number][] = [];
    for (let c = 0; c < this.statuses.length; c++) {
      const n = this.statuses[c] ?? 0;
      if (n > 0) statuses.push([c, n]);
    }
    const out: IntervalReport = {
      thread,
      second,
      final,
      counts: this.counts,
      statuses,
      errors: Array.from(this.errors),
      histograms: {
        success: encodeHistogram(this.success),
        uncorrected: this.#open ? encodeHistogram(this.uncorrected) : null,
        failure: encodeHistogram(this.failure),
        connect: encodeHistogram(this.connect),
        sendDelay: this.#open ? encodeHistogram(this.sendDelay) : null,
      },
      generator,
      missedSends,
      elapsedMs,
    };
    this.success.reset();
    if (this.#open) this.uncorrected.reset();
    this.failure.reset();
    this.connect.reset();
    this.sendDelay.reset();
    this.statuses.fill(0);
    this.errors.fill(0);
    this.counts = emptyCounts();
    return out;
  }
}

function emptyCounts(): IntervalCounts {
  return { sent: 0, ok: 0, responses: 0, bytesIn: 0, bytesOut: 0, connects: 0, lateSends: 0, waitedForConnection: 0 };
}
