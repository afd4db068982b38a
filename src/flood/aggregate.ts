// Merges the threads' once-a-second reports into one result: totals and histograms are added exactly (HDR
// histograms bucket by bucket), and a second of the timeline is complete once every thread has reported it.
import { addEncoded, decodeHistogram, encodeHistogram, latencyStats, newHistogram, percentileMs, type Histogram } from './histogram.ts';
import { ERROR_KINDS } from './outcome.ts';
import type { IntervalReport } from './recorder.ts';
import { addCounts, emptyCounts, type Counts, type FloodResult, type GeneratorSecond, type RunInfo, type Scenario, type SecondEntry, type Stopped } from './result.ts';
import type { Schedule } from './schedule.ts';

interface PendingSecond {
  counts: Counts;
  success: Histogram;
  failure: Histogram;
  sendDelay: Histogram;
  generator: GeneratorSecond;
}

/** A final slice shorter than this is folded into the second before it, so the timeline has no 3 ms "second". */
const FOLD_LAST_SLICE_MS = 500;

export function countsOf(r: IntervalReport): Counts {
  const c = emptyCounts();
  Object.assign(c, r.counts);
  c.missedSends = r.missedSends;
  c.statuses = {};
  for (const [code, n] of r.statuses) c.statuses[String(code)] = n;
  ERROR_KINDS.forEach((k, i) => {
    c.failures[k] = r.errors[i] ?? 0;
  });
  return c;
}

export class Aggregator {
  readonly counts: Counts = emptyCounts();
  readonly success = newHistogram();
  readonly uncorrected: Histogram;
  readonly failure = newHistogram();
  readonly connect = newHistogram();
  readonly sendDelay = newHistogram();
  readonly #open: boolean;
  readonly #threads: number;
  readonly #schedule: Schedule | null;
  readonly #pending = new Map<number, PendingSecond>();
  readonly #lastSecond: number[];
  readonly #final: boolean[];
  readonly #timeline: SecondEntry[] = [];
  #elapsedMs = 0;

  constructor(threads: number, open: boolean, schedule: Schedule | null) {
    this.#threads = threads;
    this.#open = open;
    this.#schedule = schedule;
    this.uncorrected = open ? newHistogram() : this.success;
    this.#lastSecond = new Array<number>(threads).fill(-1);
    this.#final = new Array<boolean>(threads).fill(false);
  }

  get allFinal(): boolean {
    return this.#final.every(Boolean);
  }

  /** Takes a thread's report; returns the seconds it completed, in order. */
  add(r: IntervalReport): SecondEntry[] {
    const c = countsOf(r);
    addCounts(this.counts, c);
    let p = this.#pending.get(r.second);
    if (!p) {
      p = {
        counts: emptyCounts(), success: newHistogram(), failure: newHistogram(), sendDelay: newHistogram(),
        generator: { elu: 0, cpu: 0, loopDelayP99: 0, loopDelayMax: 0, connections: 0, sendDelayP99: 0, lateSends: 0, waitedForConnection: 0 },
      };
      this.#pending.set(r.second, p);
    }
    addCounts(p.counts, c);
    const h = r.histograms;
    if (h.success) {
      const d = decodeHistogram(h.success);
      this.success.add(d);
      p.success.add(d);
    }
    if (h.failure) {
      const d = decodeHistogram(h.failure);
      this.failure.add(d);
      p.failure.add(d);
    }
    if (this.#open) addEncoded(this.uncorrected, h.uncorrected);
    addEncoded(this.connect, h.connect);
    if (h.sendDelay) {
      const d = decodeHistogram(h.sendDelay);
      this.sendDelay.add(d);
      p.sendDelay.add(d);
    }
    const g = p.generator;
    g.elu = Math.max(g.elu, r.generator.elu);
    g.cpu = Math.max(g.cpu, r.generator.cpu);
    g.loopDelayP99 = Math.max(g.loopDelayP99, r.generator.loopDelayP99);
    g.loopDelayMax = Math.max(g.loopDelayMax, r.generator.loopDelayMax);
    g.connections += r.generator.connections;
    this.#lastSecond[r.thread] = r.second;
    if (r.final) {
      this.#final[r.thread] = true;
      this.#elapsedMs = Math.max(this.#elapsedMs, r.elapsedMs);
    }
    return this.#completeSeconds();
  }

  /** Seconds every thread is done with. Once all threads have ended, `finish()` takes the rest (the last is partial). */
  #completeSeconds(): SecondEntry[] {
    if (this.allFinal) return [];
    let upTo = Number.POSITIVE_INFINITY;
    for (let t = 0; t < this.#threads; t++) {
      if (!this.#final[t]) upTo = Math.min(upTo, this.#lastSecond[t] ?? -1);
    }
    const out: SecondEntry[] = [];
    for (const s of [...this.#pending.keys()].filter((x) => x <= upTo).sort((a, b) => a - b)) {
      const p = this.#pending.get(s);
      if (!p) continue;
      this.#pending.delete(s);
      const entry = this.#entry(s, p, 1000);
      this.#timeline.push(entry);
      out.push(entry);
    }
    return out;
  }

  #entry(second: number, p: PendingSecond, durationMs: number): SecondEntry {
    p.generator.sendDelayP99 = percentileMs(p.sendDelay, 99);
    p.generator.lateSends = p.counts.lateSends;
    p.generator.waitedForConnection = p.counts.waitedForConnection;
    return {
      second,
      durationMs,
      counts: p.counts,
      targetRps: this.#target(second * 1000, second * 1000 + durationMs),
      histograms: { success: encodeHistogram(p.success), failure: encodeHistogram(p.failure) },
      latency: latencyStats(p.success),
      generator: p.generator,
    };
  }

  #target(fromMs: number, toMs: number): number | null {
    if (!this.#schedule) return null;
    const n = this.#schedule.countBefore(toMs) - this.#schedule.countBefore(fromMs);
    return toMs > fromMs ? n / ((toMs - fromMs) / 1000) : 0;
  }

  /** Live figures for the progress line. */
  live(): { counts: Counts; p99: number } {
    return { counts: this.counts, p99: percentileMs(this.success, 99) };
  }

  /** Builds the result once every thread has sent its final report. */
  finish(scenario: Scenario, run: RunInfo, stopped: Stopped | null): FloodResult {
    const timeline = this.#timeline;
    for (const s of [...this.#pending.keys()].sort((a, b) => a - b)) {
      const p = this.#pending.get(s);
      if (p) timeline.push(this.#entry(s, p, 1000));
    }
    this.#pending.clear();
    const durationMs = Math.max(this.#elapsedMs, 1);
    const last = timeline[timeline.length - 1];
    if (last) {
      last.durationMs = Math.max(1, durationMs - last.second * 1000);
      last.targetRps = this.#target(last.second * 1000, last.second * 1000 + last.durationMs);
      const before = timeline[timeline.length - 2];
      if (before && last.durationMs < FOLD_LAST_SLICE_MS) {
        timeline.pop();
        foldInto(before, last);
        before.targetRps = this.#target(before.second * 1000, before.second * 1000 + before.durationMs);
      }
    }
    return {
      scenario,
      runs: [{ ...run, durationMs }],
      startedAt: run.startedAt,
      durationMs,
      counts: this.counts,
      histograms: {
        success: this.success, uncorrected: this.uncorrected, failure: this.failure, connect: this.connect,
        sendDelay: this.sendDelay,
      },
      timeline,
      stopped,
    };
  }
}

/** Adds second `b` into `a` (both slices of a timeline), exactly. */
export function foldInto(a: SecondEntry, b: SecondEntry): void {
  addCounts(a.counts, b.counts);
  a.durationMs += b.durationMs;
  const success = decodeHistogram(a.histograms.success);
  addEncoded(success, b.histograms.success);
  const failure = decodeHistogram(a.histograms.failure);
  addEncoded(failure, b.histograms.failure);
  a.histograms = { success: encodeHistogram(success), failure: encodeHistogram(failure) };
  a.latency = latencyStats(success);
  const g = a.generator;
  const h = b.generator;
  // utilisation is a share of time: weigh each slice by its length, so a 5 ms tail does not speak for the second
  const wa = a.durationMs - b.durationMs;
  const wb = b.durationMs;
  g.elu = (g.elu * wa + h.elu * wb) / (wa + wb);
  g.cpu = (g.cpu * wa + h.cpu * wb) / (wa + wb);
  g.loopDelayP99 = Math.max(g.loopDelayP99, h.loopDelayP99);
  g.loopDelayMax = Math.max(g.loopDelayMax, h.loopDelayMax);
  g.sendDelayP99 = Math.max(g.sendDelayP99, h.sendDelayP99);
  g.lateSends += h.lateSends;
  g.waitedForConnection += h.waitedForConnection;
}
