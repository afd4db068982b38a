// Process pressure, sampled off the hot path (fastify/under-pressure style): an unref()ed timer measures the
// event-loop delay (its own lateness) and utilisation every SAMPLE_MS and memory every fourth sample, and sets
// `reason` and `admitShare`; a request only reads those fields.
//
// Two signals, because overload hides in two places. A standing queue inside the process shows as a late
// timer. But with thousands of connections the queue is in the kernel: every socket holds one request, the
// loop reads them a batch at a time, each iteration stays short (tens of ms) and the timer is never very late,
// while each request has waited seconds for its turn. The sign of that is a loop with no idle time left while
// the requests the open connections may hold would take long to work through (connections × the loop's time
// per request): a load test's 256 connections at 100 µs each wait at most 26 ms, 10,000 connections a second.
// While both stay over their marks (for 100 ms), a shrinking share of misses is answered degraded at once
// (they cost what a hit costs, a store read costs several times that), until the loop has idle time again;
// then the share grows back. Multiplicative decrease, additive increase: the loop finds the most misses it can
// afford, and a spike's end is followed within half a second by every miss being served again.
import { performance, type EventLoopUtilization } from 'node:perf_hooks';
import type { ShedReason } from './admission.ts';

export interface PressureLimits {
  /** Event-loop delay in ms above which the process is under pressure; 0 = never. */
  maxEventLoopDelayMs: number;
  /** V8 heap used, bytes; 0 = never. */
  maxHeapBytes: number;
  /** Resident set size, bytes; 0 = never. */
  maxRssBytes: number;
  /** Event-loop utilisation (0..1, over UTIL_WINDOW samples: 200 ms) above which misses start to be shed; ≥ 1 = never. */
  maxUtilization?: number;
}

export interface PressureSample {
  /** How late the sampling timer ran, ms: how long a request arriving when it was due waited for the loop. */
  eventLoopDelayMs: number;
  /** Share of the last UTIL_WINDOW samples' time the loop was busy (0..1); absent = not measured. */
  utilization?: number;
  /**
   * How long the requests the open connections may hold would take to work through, ms: connections × the loop's
   * busy time per request over the same window. An upper bound on a request's wait in the kernel; absent = unknown.
   */
  backlogMs?: number;
  heapUsed: number;
  rss: number;
}

export const SAMPLE_MS = 25;
/** Memory is read every MEMORY_EVERY samples (100 ms): it moves slowly, and reading RSS is a system call. */
const MEMORY_EVERY = 4;
/** Utilisation is judged over this many samples (200 ms): shorter windows are all-busy or all-idle too often. */
const UTIL_WINDOW = 8;
/** Under saturation the admitted share of misses shrinks by this factor per sample... */
const DECREASE = 0.7;
/** ...never below this (some misses still fill the cache)... */
const MIN_SHARE = 0.02;
/** ...and grows back by this much per sample while the loop has idle time (0.02 → 1 in about half a second). */
const INCREASE = 0.05;
/** Saturation counts only while the open connections' requests would take longer than this to work through... */
export const BACKLOG_MS = 100;
/** ...for this many samples in a row (100 ms): a start-up, a burst of a thousand requests, a collection are not overload. */
const SUSTAIN = 4;

/** What the server has in hand, read once per sample: open connections, and requests answered so far. */
export interface Load {
  connections(): number;
  requests(): number;
}

export class PressureMonitor {
  /** Set while the process is under pressure; the only thing a request looks at. */
  reason: Extract<ShedReason, 'event-loop' | 'memory'> | undefined;
  /** The share of misses admitted while the loop is saturated: 1 = all; lower under saturation. */
  admitShare = 1;
  last: PressureSample = { eventLoopDelayMs: 0, heapUsed: 0, rss: 0 };
  readonly limits: PressureLimits;
  readonly #now: () => number;
  #timer: NodeJS.Timeout | undefined;
  /** When the sampler last ran; undefined until it has. */
  #lastTick: number | undefined;
  #lateBefore = 0;
  #ticks = 0;
  /** Spreads admissions evenly: a miss is admitted each time the share's running sum passes a whole number. */
  #credit = 0;
  /** The loop's utilisation counters and the requests answered at the last UTIL_WINDOW samples, oldest first. */
  readonly #window: { elu: EventLoopUtilization; requests: number }[] = [];
  #load: Load | undefined;
  #saturatedFor = 0;

  constructor(limits: PressureLimits, now: () => number = () => performance.now()) {
    this.limits = limits;
    this.#now = now;
  }

  /** Starts sampling the real process every SAMPLE_MS. */
  start(): this {
    this.#lastTick = this.#now();
    this.#timer = setInterval(() => this.tick(), SAMPLE_MS);
    this.#timer.unref();
    return this;
  }

  stop(): void {
    clearInterval(this.#timer);
  }

  /** Gives the sampler the server's connections and request count (the server exists after the monitor). */
  watch(load: Load): this {
    this.#load = load;
    return this;
  }

  /**
   * The pressure for a request arriving at `now` (performance.now()): the sampled reason, or 'event-loop' when
   * the sampling timer itself is overdue by more than the watermark while its last sample was late too. That
   * happens inside one long loop iteration (thousands of requests read in one go) that follows another, before
   * any timer can run: a standing queue, whose requests have waited as long. A single stall (a garbage
   * collection, the process descheduled) is not overload. While the admitted share is below 1, each call also
   * spends admission credit, so that the share is spread evenly over the misses. Called only for memory-tier misses.
   */
  reasonAt(now: number): PressureMonitor['reason'] {
    const max = this.limits.maxEventLoopDelayMs;
    if (this.reason === undefined && max > 0 && this.#lateBefore > max && this.#lastTick !== undefined && now - this.#lastTick > SAMPLE_MS + max) return 'event-loop';
    if (this.reason === undefined && this.admitShare < 1) {
      this.#credit += this.admitShare;
      if (this.#credit < 1) return 'event-loop';
      this.#credit -= 1;
    }
    return this.reason;
  }

  /**
   * Judges one sample (the timer's, or a test's). The event loop counts as overloaded once two samples in a row
   * are over the watermark (a standing queue, not one garbage collection or one slow callback), and stays so
   * until a sample is back under half of it: shedding makes the loop fast again, and without the margin it
   * would let the misses back in at once, the next iteration would be slow again, and so on.
   */
  update(sample: PressureSample): void {
    this.last = sample;
    const l = this.limits;
    const max = l.maxEventLoopDelayMs;
    const late = sample.eventLoopDelayMs;
    const busy = max > 0 && (this.reason === 'event-loop' ? late > max / 2 : Math.min(late, this.#lateBefore) > max);
    this.#lateBefore = late;
    const maxUtil = l.maxUtilization ?? 1;
    const util = sample.utilization;
    const saturated = util !== undefined && util > maxUtil && (sample.backlogMs === undefined || sample.backlogMs > BACKLOG_MS);
    this.#saturatedFor = saturated ? this.#saturatedFor + 1 : 0;
    if (util !== undefined && maxUtil < 1) {
      // No dead band: the share probes upwards until the loop saturates and backs off, so the loop serves as many
      // misses as it can afford rather than holding a share that was right a second ago.
      if (this.#saturatedFor >= SUSTAIN) this.admitShare = Math.max(MIN_SHARE, this.admitShare * DECREASE);
      else if (!saturated) this.admitShare = Math.min(1, this.admitShare + INCREASE);
    }
    if (busy) this.reason = 'event-loop';
    else if ((l.maxHeapBytes > 0 && sample.heapUsed > l.maxHeapBytes) || (l.maxRssBytes > 0 && sample.rss > l.maxRssBytes)) this.reason = 'memory';
    else this.reason = undefined;
  }

  /** One sample: run by the timer every SAMPLE_MS (by hand in tests). */
  tick(): void {
    const now = this.#now();
    // How late this timer ran is how long a request that arrived when it was due waited for the loop.
    const late = this.#lastTick === undefined ? 0 : Math.max(0, now - this.#lastTick - SAMPLE_MS);
    this.#lastTick = now;
    let { heapUsed, rss } = this.last;
    if (this.#ticks++ % MEMORY_EVERY === 0) ({ heapUsed, rss } = process.memoryUsage());
    const current = { elu: performance.eventLoopUtilization(), requests: this.#load?.requests() ?? 0 };
    const since = this.#window.length === UTIL_WINDOW ? this.#window.shift() : this.#window[0];
    this.#window.push(current);
    let utilization: number | undefined;
    let backlogMs: number | undefined;
    if (since !== undefined) {
      const d = performance.eventLoopUtilization(current.elu, since.elu);
      utilization = d.utilization;
      if (this.#load !== undefined) backlogMs = (this.#load.connections() * d.active) / Math.max(1, current.requests - since.requests);
    }
    this.update({ eventLoopDelayMs: late, utilization, backlogMs, heapUsed, rss });
  }
}
