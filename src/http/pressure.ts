// Process pressure, sampled off the hot path (fastify/under-pressure style): an unref()ed timer measures the
// event-loop delay (its own lateness) every SAMPLE_MS and memory every fourth sample, and sets `reason`; a
// request only reads that field.
import type { ShedReason } from './admission.ts';

export interface PressureLimits {
  /** Event-loop delay in ms above which the process is under pressure; 0 = never. */
  maxEventLoopDelayMs: number;
  /** V8 heap used, bytes; 0 = never. */
  maxHeapBytes: number;
  /** Resident set size, bytes; 0 = never. */
  maxRssBytes: number;
}

export interface PressureSample {
  /** How late the sampling timer ran, ms: how long a request arriving when it was due waited for the loop. */
  eventLoopDelayMs: number;
  heapUsed: number;
  rss: number;
}

export const SAMPLE_MS = 25;
/** Memory is read every MEMORY_EVERY samples (100 ms): it moves slowly, and reading RSS is a system call. */
const MEMORY_EVERY = 4;

export class PressureMonitor {
  /** Set while the process is under pressure; the only thing a request looks at. */
  reason: Extract<ShedReason, 'event-loop' | 'memory'> | undefined;
  last: PressureSample = { eventLoopDelayMs: 0, heapUsed: 0, rss: 0 };
  readonly limits: PressureLimits;
  readonly #now: () => number;
  #timer: NodeJS.Timeout | undefined;
  /** When the sampler last ran; undefined until it has. */
  #lastTick: number | undefined;
  #lateBefore = 0;
  #ticks = 0;

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

  /**
   * The pressure for a request arriving at `now` (performance.now()): the sampled reason, or 'event-loop' when
   * the sampling timer itself is overdue by more than the watermark while its last sample was late too. That
   * happens inside one long loop iteration (thousands of requests read in one go) that follows another, before
   * any timer can run: a standing queue, whose requests have waited as long. A single stall (a garbage
   * collection, the process descheduled) is not overload. Two comparisons; called only for memory-tier misses.
   */
  reasonAt(now: number): PressureMonitor['reason'] {
    const max = this.limits.maxEventLoopDelayMs;
    if (this.reason === undefined && max > 0 && this.#lateBefore > max && this.#lastTick !== undefined && now - this.#lastTick > SAMPLE_MS + max) return 'event-loop';
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
    this.update({ eventLoopDelayMs: late, heapUsed, rss });
  }
}
