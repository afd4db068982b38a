// Process pressure: when a read that misses memory is answered degraded at once instead of being sent down
// to Redis or the store. A miss is refused only when it would not be answered in time, judged from measured
// queueing, never from how many connections are open (idle keep-alive connections hold no work):
//  - the loop is behind: the time the request waited for the event loop before it was read (LoopWait, measured
//    per loop iteration) is over `maxEventLoopDelayMs`. Shedding the misses of a long iteration shortens the
//    next one, so the loop's queue stays under that target and what is admitted is answered within the deadline;
//  - the deadline would pass: that wait plus what a miss takes now (a moving average of the admitted misses'
//    times, from read to answer) is over the deadline's budget;
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
  readonly #now: () => number;
  #timer: NodeJS.Timeout | undefined;
  #lastTick: number | undefined;
  #ticks = 0;

  constructor(limits: PressureLimits, now: () => number = () => performance.now(), wait: LoopWait = new LoopWait()) {
    this.limits = limits;
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
    const waited = this.wait.waitedAt(now, socket);
    if (waited > this.longestWaitMs) this.longestWaitMs = waited;
    const l = this.limits;
    if (l.maxEventLoopDelayMs > 0 && (waited > l.maxEventLoopDelayMs || (l.budgetMs !== undefined && waited + this.missMs > l.budgetMs))) {
      this.#shed++;
      return 'event-loop';
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
    this.#missesAnswered = 0;
    this.shedLastSample = this.#shed;
    this.#shed = 0;
    let { heapUsed, rss } = this.last;
    if (this.#ticks++ % MEMORY_EVERY === 0) ({ heapUsed, rss } = process.memoryUsage());
    this.update({ eventLoopDelayMs: late, heapUsed, rss });
  }

  /** Resets the per-sample maximum after a reader (the gauge) took it. */
  takeLongestWait(): number {
    const w = this.longestWaitMs;
    this.longestWaitMs = 0;
    return w;
  }
}
