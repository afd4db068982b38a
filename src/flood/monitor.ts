// Self-monitoring, once per second per thread: how busy this thread's event loop was (utilisation), how late its
// timers fired (event-loop delay), and how much CPU the thread used. A load generator that is itself saturated
// measures its own queueing, not the server's latency; these numbers let the verdict say so.
import { monitorEventLoopDelay, performance, type ELDHistogram, type EventLoopUtilization } from 'node:perf_hooks';

export interface GeneratorSample {
  /** Event-loop utilisation over the interval, 0..1. */
  readonly elu: number;
  /** CPU used by this thread over the interval, in cores (0..1 for one thread). */
  readonly cpu: number;
  /** Event-loop delay, 99th percentile and maximum, in milliseconds. */
  readonly loopDelayP99: number;
  readonly loopDelayMax: number;
}

export class SelfMonitor {
  readonly #delay: ELDHistogram = monitorEventLoopDelay({ resolution: 10 });
  #elu: EventLoopUtilization = performance.eventLoopUtilization();
  #cpu: NodeJS.CpuUsage = process.threadCpuUsage();
  #at = performance.now();

  start(): void {
    this.#delay.enable();
    this.#elu = performance.eventLoopUtilization();
    this.#cpu = process.threadCpuUsage();
    this.#at = performance.now();
  }

  /** The figures since the previous sample (or start), then starts a new interval. */
  sample(): GeneratorSample {
    const now = performance.now();
    const elu = performance.eventLoopUtilization(this.#elu);
    const cpu = process.threadCpuUsage(this.#cpu);
    const wallUs = Math.max(1, (now - this.#at) * 1000);
    const count = this.#delay.count;
    const out: GeneratorSample = {
      elu: elu.utilization,
      cpu: (cpu.user + cpu.system) / wallUs,
      // the histogram measures how late the 10 ms sampling timer fired, in nanoseconds; it includes the 10 ms
      loopDelayP99: count > 0 ? Math.max(0, this.#delay.percentile(99) / 1e6 - 10) : 0,
      loopDelayMax: count > 0 ? Math.max(0, this.#delay.max / 1e6 - 10) : 0,
    };
    this.#delay.reset();
    this.#elu = performance.eventLoopUtilization();
    this.#cpu = process.threadCpuUsage();
    this.#at = now;
    return out;
  }

  stop(): void {
    this.#delay.disable();
  }
}
