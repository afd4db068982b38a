// The open model's clock: a piecewise-linear rate (stages) turned into the exact moment each request should
// leave. Request g (0, 1, 2, …) is due when the integral of the rate reaches g, so a ramp from 0 to 5,000 rps
// over 10 s and a hold at 5,000 rps are both exact, and latency can be measured from the due time (coordinated-
// omission correction, as wrk2 does it) rather than from whenever the request actually left.
import { parseDuration, parseRate } from './units.ts';
import { UsageError } from './usage.ts';

export interface Stage {
  /** Length in milliseconds. */
  readonly durationMs: number;
  /** Rate at the start and at the end of the stage, requests per second (equal for a hold). */
  readonly from: number;
  readonly to: number;
}

/** Parses "10s:0-5000" (ramp) or "60s:5000" (hold). */
export function parseStage(text: string): Stage {
  const m = /^([^:]+):([^-]+)(?:-(.+))?$/.exec(text.trim());
  if (!m) throw new UsageError(`--stage: '${text}' is not DURATION:RATE or DURATION:FROM-TO, e.g. 60s:5000 or 10s:0-5000`);
  const durationMs = parseDuration(m[1] ?? '', `--stage '${text}'`);
  if (durationMs <= 0) throw new UsageError(`--stage: '${text}' must last longer than 0`);
  const from = parseRate(m[2] ?? '', `--stage '${text}'`);
  const to = m[3] === undefined ? from : parseRate(m[3], `--stage '${text}'`);
  return { durationMs, from, to };
}

interface Segment extends Stage {
  readonly startMs: number;
  /** Requests due before the segment starts. */
  readonly before: number;
  /** Requests due during the segment. */
  readonly count: number;
}

export class Schedule {
  readonly #segments: Segment[] = [];
  readonly totalMs: number;
  /** How many requests the whole schedule holds (the integral of the rate). */
  readonly totalCount: number;
  #seg = 0;

  constructor(stages: readonly Stage[]) {
    let startMs = 0;
    let before = 0;
    for (const s of stages) {
      const count = ((s.from + s.to) / 2) * (s.durationMs / 1000);
      this.#segments.push({ ...s, startMs, before, count });
      startMs += s.durationMs;
      before += count;
    }
    this.totalMs = startMs;
    this.totalCount = before;
  }

  /**
   * When request g is due, in ms from the start; null when the schedule ends before it. Calls must ask for
   * non-decreasing g (each thread walks its own requests in order).
   */
  dueAt(g: number): number | null {
    while (this.#seg < this.#segments.length) {
      const s = this.#segments[this.#seg];
      if (!s) break;
      if (g < s.before + s.count) {
        const m = g - s.before;
        if (m <= 0) return s.startMs;
        const a = s.from;
        const k2 = (s.to - s.from) / (2 * (s.durationMs / 1000));
        // a·x + k2·x² = m, solved in the form that stays stable when k2 → 0
        const x = (2 * m) / (a + Math.sqrt(Math.max(0, a * a + 4 * k2 * m)));
        return s.startMs + Math.min(s.durationMs, x * 1000);
      }
      this.#seg++;
    }
    return null;
  }

  /** Requests due in [0, t) ms: the integral of the rate, for the target line of the timeline. */
  countBefore(tMs: number): number {
    let n = 0;
    for (const s of this.#segments) {
      if (tMs <= s.startMs) break;
      const x = Math.min(tMs - s.startMs, s.durationMs) / 1000;
      const k2 = (s.to - s.from) / (2 * (s.durationMs / 1000));
      n += s.from * x + k2 * x * x;
    }
    return n;
  }

  /** The target rate at time t (ms), requests per second. */
  rateAt(tMs: number): number {
    for (const s of this.#segments) {
      if (tMs < s.startMs + s.durationMs) return s.from + ((s.to - s.from) * Math.max(0, tMs - s.startMs)) / s.durationMs;
    }
    return 0;
  }
}
