// Process pressure: when a read that misses memory is answered degraded at once instead of being sent down
// to Redis or the store. A miss is refused only when it would not be answered in time, judged from measured
// queueing, never from how many connections are open (idle keep-alive connections hold no work):
//  - the loop is behind: the time the request waited for the event loop before it was read (LoopWait, measured
//    per loop iteration) is over `maxEventLoopDelayMs`. Shedding the misses of a long iteration shortens the
//    next one, so the loop's queue stays under that target and what is admitted is answered within the deadline;
//  - the deadline would pass: that wait plus what a miss takes now (a moving average of the admitted misses'
//    times, from read to answer) is over the deadline's budget;
//  - a standing queue (CoDel's test): the shortest wait any miss had over the last 100 ms was over
//    STANDING_MS (250 ms, at most half of `maxEventLoopDelayMs`). A burst's queue drains within that (2–3 calls
//    per recipient at the same instant, a campaign's uneven second); a standing one means requests arrive
//    faster than the loop answers them, and the callers' own queues (which no server can see) grow too. The
//    mark is far under a deadline on purpose, yet not CoDel's 5 ms: a loop at 90 % of its capacity under a
//    campaign's burst keeps queues of 50–200 ms and answers every call within 600 ms (a 50 ms mark refused 68 %
//    of that campaign's calls: docs/design-notes.md). Then a shrinking share of misses is answered degraded,
//    cut by 30 % per 25 ms sample, until the queue drains, and grown back by 5 points per sample after (at
//    once to all, as soon as the loop idles):
//    refusing a miss costs what a hit costs, a Redis or store read several times that, so shedding some is how
//    a saturated loop answers more calls in time. A closed-loop load test of a few hundred connections keeps a
//    queue of a few milliseconds, and is never shed;
//  - memory: the heap or RSS is over its watermark, sampled every 100 ms off the hot path.
// A fresh hit never asks: it costs less to answer than to refuse. The sampler runs on an unref()ed timer
// (fastify/under-pressure style); a request only compares numbers.
import { performance } from 'node:perf_hooks';
import type { ShedReason } from './admission.ts';
import { LoopWait } from './loop-wait.ts';

export interface PressureLimits {
  /** Longest wait for the event loop (ms) after which a miss is answered degraded; 0 = no event-loop shedding at all. */
  maxEventLoopDelayMs: number;
  /** The read deadline's budget (ms, Admission.budgetMs): a miss predicted to end past it is answered degraded. */
  budgetMs?: number;
  /** V8 heap used, bytes; 0 = never. */
  maxHeapBytes: number;
  /** Resident set size, bytes; 0 = never. */
  maxRssBytes: number;
}

export interface PressureSample {
  /** How late the sampling timer ran, ms (reported as a gauge; the decision uses LoopWait). */
  eventLoopDelayMs: number;
  heapUsed: number;
  rss: number;
}

export const SAMPLE_MS = 25;
/** Memory is read every MEMORY_EVERY samples (100 ms): it moves slowly, and reading RSS is a system call. */
const MEMORY_EVERY = 4;
/** Weight of one admitted miss in the moving average of miss times. */
const MISS_WEIGHT = 1 / 8;
/** Per sample with no admitted miss answered, the average decays by this factor, so one slow spell is forgotten. */
const MISS_DECAY = 0.8;
/** A queue whose shortest wait stays over this (ms; at most half the loop-wait target) for STANDING_FOR_MS (CoDel's interval) is a standing one. */
export const STANDING_MS = 250;
const STANDING_FOR_MS = 100;
/** Under a standing queue the admitted share of misses shrinks by this factor per sample... */
const DECREASE = 0.7;
/** ...never below this (some misses still fill the cache)... */
const MIN_SHARE = 0.02;
/** ...and grows back by this much per sample once the queue drains (0.02 → 1 in about half a second)... */
const INCREASE = 0.05;
/** ...or at once to 1 when the loop went idle (blocked for I/O) for more than this (ms) since the last sample. */
const IDLED_MS = 1;

export class PressureMonitor {
  /** Set while memory is over its watermark: every miss is then answered degraded. */
  reason: Extract<ShedReason, 'memory'> | undefined;
  last: PressureSample = { eventLoopDelayMs: 0, heapUsed: 0, rss: 0 };
  readonly limits: PressureLimits;
  readonly wait: LoopWait;
  /** Moving average of an admitted miss's time from read to answer, ms. */
  missMs = 0;
  /** The longest loop wait a miss had since the gauge last read it (takeLongestWait). */
  longestWaitMs = 0;
  #missesAnswered = 0;
  #shed = 0;
  /** Misses shed for the event loop in the sample before the current one (read by the gauges). */
  shedLastSample = 0;
  /** The share of misses admitted: 1 = all; lower while a standing queue is being drained. */
  admitShare = 1;
  /** The shortest wait of a miss in the current sample; Infinity = no miss yet. */
  #minWait = Number.POSITIVE_INFINITY;
  /** STANDING_MS, or half the loop-wait target when that is lower. */
  readonly #standingMs: number;
  /** Since when every sample's shortest miss wait was over #standingMs; undefined = not so. */
  #standingSince: number | undefined;
  /** Spreads admissions evenly: a miss is admitted each time the share's running sum passes a whole number. */
  #credit = 0;
  /** The loop's idle time at the last sample. */
  #idleAtTick = 0;
  readonly #now: () => number;
  #timer: NodeJS.Timeout | undefined;
  #lastTick: number | undefined;
  #ticks = 0;

  constructor(limits: PressureLimits, now: () => number = () => performance.now(), wait: LoopWait = new LoopWait()) {
    this.limits = limits;
    this.#standingMs = Math.min(STANDING_MS, limits.maxEventLoopDelayMs / 2);
    this.#now = now;
    this.wait = wait;
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

  /** Every request, at the moment it is read (its t0). */
  arrive(now: number): void {
    this.wait.arrive(now);
  }

  /** A connection was accepted at `now` (its first request may have waited since before that). */
  connected(socket: object, now: number): void {
    this.wait.connected(socket, now);
  }

  /** Why a miss read at `now` on `socket` must be answered degraded at once, or undefined to send it down. */
  reasonAt(now: number, socket?: object): ShedReason | undefined {
    if (this.reason !== undefined) return this.reason;
    const l = this.limits;
    if (l.maxEventLoopDelayMs <= 0) return undefined;
    const waited = this.wait.waitedAt(now, socket);
    if (waited > this.longestWaitMs) this.longestWaitMs = waited;
    if (waited < this.#minWait) this.#minWait = waited;
    if (waited > l.maxEventLoopDelayMs || (l.budgetMs !== undefined && waited + this.missMs > l.budgetMs)) {
      this.#shed++;
      return 'event-loop';
    }
    if (this.admitShare < 1) {
      this.#credit += this.admitShare;
      if (this.#credit < 1) {
        this.#shed++;
        return 'event-loop';
      }
      this.#credit -= 1;
    }
    return undefined;
  }

  /** An admitted miss was answered `ms` after it was read. */
  missAnswered(ms: number): void {
    this.missMs += (ms - this.missMs) * MISS_WEIGHT;
    this.#missesAnswered++;
  }

  /** Judges one memory sample (the timer's, or a test's). */
  update(sample: PressureSample): void {
    this.last = sample;
    const l = this.limits;
    const over = (l.maxHeapBytes > 0 && sample.heapUsed > l.maxHeapBytes) || (l.maxRssBytes > 0 && sample.rss > l.maxRssBytes);
    this.reason = over ? 'memory' : undefined;
  }

  /** One sample: run by the timer every SAMPLE_MS (by hand in tests). */
  tick(): void {
    const now = this.#now();
    this.wait.tick(now);
    const late = this.#lastTick === undefined ? 0 : Math.max(0, now - this.#lastTick - SAMPLE_MS);
    this.#lastTick = now;
    if (this.#missesAnswered === 0) this.missMs *= MISS_DECAY;
    this.#judgeQueue(now);
    this.#missesAnswered = 0;
    this.shedLastSample = this.#shed;
    this.#shed = 0;
    let { heapUsed, rss } = this.last;
    if (this.#ticks++ % MEMORY_EVERY === 0) ({ heapUsed, rss } = process.memoryUsage());
    this.update({ eventLoopDelayMs: late, heapUsed, rss });
  }

  /** Once per sample: a standing queue shrinks the admitted share of misses, a drained one grows it back. */
  #judgeQueue(now: number): void {
    const min = this.#minWait;
    this.#minWait = Number.POSITIVE_INFINITY;
    const idle = this.wait.idleMs();
    const idled = idle - this.#idleAtTick > IDLED_MS;
    this.#idleAtTick = idle;
    // A loop that blocked waiting for I/O had nothing queued: every miss is let through again at once.
    if (idled) {
      this.#standingSince = undefined;
      this.admitShare = 1;
      return;
    }
    // A sample with no miss at all: the load that made the queue is gone, as far as misses are concerned.
    if (min > this.#standingMs && min !== Number.POSITIVE_INFINITY) {
      this.#standingSince ??= now;
      if (now - this.#standingSince >= STANDING_FOR_MS) this.admitShare = Math.max(MIN_SHARE, this.admitShare * DECREASE);
    } else {
      this.#standingSince = undefined;
      this.admitShare = Math.min(1, this.admitShare + INCREASE);
    }
  }

  /** Resets the per-sample maximum after a reader (the gauge) took it. */
  takeLongestWait(): number {
    const w = this.longestWaitMs;
    this.longestWaitMs = 0;
    return w;
  }
}
