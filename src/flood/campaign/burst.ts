// The campaign's clock: when each recipient's message is rendered. A marketing platform with a per-minute rate
// limit releases each minute's quota at the start of that minute, spread over a short burst (not over the
// minute), so recipient i of the run is due at minute(i) × 60 s + its place in that minute's burst. Pure
// arithmetic on (recipients, per-minute, burst): unit-tested without a clock.
import type { Stage } from '../schedule.ts';

export const MINUTE_MS = 60_000;

export class BurstSchedule {
  readonly recipients: number;
  readonly perMinute: number;
  readonly burstMs: number;

  constructor(recipients: number, perMinute: number, burstMs: number) {
    if (!(recipients >= 1 && perMinute >= 1)) throw new RangeError('recipients and per-minute must be at least 1');
    if (!(burstMs >= 0 && burstMs <= MINUTE_MS)) throw new RangeError('the burst must fit in a minute');
    this.recipients = recipients;
    this.perMinute = perMinute;
    this.burstMs = burstMs;
  }

  /** Minutes the campaign spans (the last may hold fewer than `perMinute` recipients). */
  get minutes(): number {
    return Math.ceil(this.recipients / this.perMinute);
  }

  /** Recipients released in minute m. */
  quota(m: number): number {
    if (m < 0 || m >= this.minutes) return 0;
    return Math.min(this.perMinute, this.recipients - m * this.perMinute);
  }

  /** When recipient i (0-based) is due, ms from the start: minute start + its even share of that minute's burst. */
  dueAt(i: number): number {
    const m = Math.floor(i / this.perMinute);
    const j = i - m * this.perMinute;
    return m * MINUTE_MS + (this.burstMs * j) / this.quota(m);
  }

  /** How many recipients are due strictly before `tMs`. */
  countBefore(tMs: number): number {
    if (tMs <= 0) return 0;
    const m = Math.floor(tMs / MINUTE_MS);
    if (m >= this.minutes) return this.recipients;
    const into = tMs - m * MINUTE_MS;
    const q = this.quota(m);
    const inMinute = this.burstMs === 0 || into > this.burstMs ? q : Math.min(q, Math.ceil((into * q) / this.burstMs));
    return m * this.perMinute + inMinute;
  }

  /** From the start to the moment the last recipient is due, ms. */
  get lastDueMs(): number {
    return this.dueAt(this.recipients - 1);
  }

  /**
   * The same load as flood's rate stages (calls per second, with `callsPerRecipient` on average): each minute a
   * burst at quota × calls / burst, then silence until the next minute. Used for the target rate in the timeline.
   */
  stages(callsPerRecipient: number, tailMs: number): Stage[] {
    const out: Stage[] = [];
    for (let m = 0; m < this.minutes; m++) {
      const burst = Math.max(this.burstMs, 1);
      const rate = (this.quota(m) * callsPerRecipient * 1000) / burst;
      out.push({ durationMs: burst, from: rate, to: rate });
      const gap = m === this.minutes - 1 ? tailMs : MINUTE_MS - burst;
      if (gap > 0) out.push({ durationMs: gap, from: 0, to: 0 });
    }
    return out;
  }
}
