// Process pressure, sampled off the hot path (fastify/under-pressure style): an unref()ed timer reads the
// event-loop delay and memory every SAMPLE_MS and sets `reason`; a request only reads that field.
import { monitorEventLoopDelay } from 'node:perf_hooks';
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
  /** How late the loop ran timers during the last interval, ms. */
  eventLoopDelayMs: number;
  heapUsed: number;
  rss: number;
}

export const SAMPLE_MS = 100;
const RESOLUTION_MS = 10;

export class PressureMonitor {
  /** Set while the process is under pressure; the only thing a request looks at. */
  reason: Extract<ShedReason, 'event-loop' | 'memory'> | undefined;
  last: PressureSample = { eventLoopDelayMs: 0, heapUsed: 0, rss: 0 };
  readonly limits: PressureLimits;
  #histogram: ReturnType<typeof monitorEventLoopDelay> | undefined;
  #timer: NodeJS.Timeout | undefined;
  #lastTick = 0;

  constructor(limits: PressureLimits) {
    this.limits = limits;
  }

  /** Starts sampling the real process every SAMPLE_MS. */
  start(): this {
    this.#histogram = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
    this.#histogram.enable();
    this.#lastTick = performance.now();
    this.#timer = setInterval(() => this.#tick(), SAMPLE_MS);
    this.#timer.unref();
    return this;
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#histogram?.disable();
  }

  /** Judges one sample (the timer's, or a test's). */
  update(sample: PressureSample): void {
    this.last = sample;
    const l = this.limits;
    if (l.maxEventLoopDelayMs > 0 && sample.eventLoopDelayMs > l.maxEventLoopDelayMs) this.reason = 'event-loop';
    else if ((l.maxHeapBytes > 0 && sample.heapUsed > l.maxHeapBytes) || (l.maxRssBytes > 0 && sample.rss > l.maxRssBytes)) this.reason = 'memory';
    else this.reason = undefined;
  }

  #tick(): void {
    const now = performance.now();
    // The timer's own lateness catches a loop blocked for longer than the interval (the histogram then holds
    // a single sample); the histogram's mean catches many shorter stalls.
    const late = Math.max(0, now - this.#lastTick - SAMPLE_MS);
    this.#lastTick = now;
    const h = this.#histogram;
    const mean = h && h.count > 0 ? Math.max(0, h.mean / 1e6 - RESOLUTION_MS) : 0;
    h?.reset();
    const mem = process.memoryUsage();
    this.update({ eventLoopDelayMs: Math.max(late, mean), heapUsed: mem.heapUsed, rss: mem.rss });
  }
}
