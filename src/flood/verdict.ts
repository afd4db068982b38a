// Can the numbers be trusted? A load generator that runs out of CPU, or whose event loop is late, adds its own
// queueing to every latency it measures and caps the throughput it reports: the figures then describe flood, not
// the server. Each second is judged on flood's own health; the verdict says "trustworthy" or names the second from
// which the generator was the bottleneck.
import { latencyStats, type LatencyStats } from './histogram.ts';
import { ERROR_KINDS } from './outcome.ts';
import { tally, type FloodResult, type SecondEntry } from './result.ts';
import { formatInt, formatMs, pct } from './units.ts';

/** A generator thread busier than this (CPU or event loop) is saturated: its own queueing enters the figures. */
export const SATURATED = 0.9;
/** Timers (and so sends and reads) running later than this at the 99th percentile distort the latency figures. */
export const LOOP_DELAY_LIMIT_MS = 10;
/** Open model: more than this share of sends leaving late (with a connection free) means the schedule slipped. */
export const LATE_SHARE_LIMIT = 0.01;

export type BoundCode = 'cpu' | 'event-loop' | 'loop-delay' | 'late-sends';
export interface BoundReason {
  readonly code: BoundCode;
  readonly text: string;
}

/** Why a second counts as generator-bound; empty when it does not. */
export function boundReasons(e: SecondEntry): BoundReason[] {
  const g = e.generator;
  const out: BoundReason[] = [];
  if (g.cpu >= SATURATED) out.push({ code: 'cpu', text: `CPU at ${pct(g.cpu)} of a core` });
  if (g.elu >= SATURATED) out.push({ code: 'event-loop', text: `event loop ${pct(g.elu)} busy` });
  if (g.loopDelayP99 >= LOOP_DELAY_LIMIT_MS) out.push({ code: 'loop-delay', text: `event-loop delay p99 ${formatMs(g.loopDelayP99)}` });
  if (e.counts.sent > 0 && g.lateSends / e.counts.sent > LATE_SHARE_LIMIT) {
    out.push({ code: 'late-sends', text: `${formatInt(g.lateSends)} sends left over 10 ms late with a connection free` });
  }
  return out;
}

export interface GeneratorSummary {
  readonly maxCpu: number;
  readonly maxElu: number;
  readonly maxLoopDelayP99: number;
  readonly maxLoopDelay: number;
  /** Open model: how late requests left compared with their schedule, ms. */
  readonly sendDelay: LatencyStats;
  readonly targetRps: number | null;
  readonly achievedRps: number;
  readonly missedSends: number;
  readonly lateSends: number;
  readonly waitedForConnection: number;
}

export function generatorSummary(r: FloodResult): GeneratorSummary {
  let maxCpu = 0;
  let maxElu = 0;
  let maxLoopDelayP99 = 0;
  let maxLoopDelay = 0;
  for (const e of r.timeline) {
    maxCpu = Math.max(maxCpu, e.generator.cpu);
    maxElu = Math.max(maxElu, e.generator.elu);
    maxLoopDelayP99 = Math.max(maxLoopDelayP99, e.generator.loopDelayP99);
    maxLoopDelay = Math.max(maxLoopDelay, e.generator.loopDelayMax);
  }
  const seconds = Math.max(r.durationMs, 1) / 1000;
  let target: number | null = null;
  for (const e of r.timeline) {
    if (e.targetRps !== null) target = (target ?? 0) + (e.targetRps * e.durationMs) / 1000;
  }
  return {
    maxCpu, maxElu, maxLoopDelayP99, maxLoopDelay,
    sendDelay: latencyStats(r.histograms.sendDelay),
    targetRps: target === null ? null : target / seconds,
    achievedRps: r.counts.sent / seconds,
    missedSends: r.counts.missedSends,
    lateSends: r.counts.lateSends,
    waitedForConnection: r.counts.waitedForConnection,
  };
}

export interface Verdict {
  readonly trustworthy: boolean;
  /** Not one request got an answer with a status counted as success (a dead target, a wrong URL, --ok). */
  readonly nothingSucceeded: boolean;
  /** Seconds into the run from which flood was the bottleneck, or null. */
  readonly generatorBoundFrom: number | null;
  /** How many seconds of the timeline were generator-bound. */
  readonly boundSeconds: number;
  readonly totalSeconds: number;
  /** The kinds of reason seen in the bound seconds, most frequent first. */
  readonly reasons: readonly BoundCode[];
  /** Facts worth knowing that do not make the run untrustworthy. */
  readonly notes: readonly string[];
  /** The verdict in plain words. */
  readonly text: string;
}

export function verdict(r: FloodResult): Verdict {
  const flags = r.timeline.map((e) => boundReasons(e));
  const bound = flags.map((f) => f.length > 0);
  const boundSeconds = bound.filter(Boolean).length;
  // the first bound second from which at least half of the remaining seconds are bound: a ramp that outgrows the
  // generator, not a single hiccup
  let from: number | null = null;
  for (let i = 0; i < bound.length; i++) {
    if (!bound[i]) continue;
    const rest = bound.slice(i);
    const restBound = rest.filter(Boolean).length;
    // a lone bound second at the very end of a longer run is a hiccup, not a trend
    if (restBound * 2 >= rest.length && (restBound >= 2 || bound.length <= 2)) {
      from = r.timeline[i]?.second ?? i;
      break;
    }
  }
  const counted = new Map<BoundCode, number>();
  for (const f of flags) for (const reason of f) counted.set(reason.code, (counted.get(reason.code) ?? 0) + 1);
  const worst = worstReasons(r.timeline, flags);
  const notes: string[] = [];
  const g = generatorSummary(r);
  if (g.waitedForConnection > 0) {
    notes.push(
      `${formatInt(g.waitedForConnection)} requests waited for a free connection (all ${formatInt(r.scenario.connections)} were busy): ` +
        'the server answered more slowly than the rate needs; their latency counts from their schedule.',
    );
  }
  if (g.missedSends > 0) {
    notes.push(`${formatInt(g.missedSends)} scheduled requests were still waiting for a connection at the end and were never sent; ` +
      'they are not in the percentiles, which are therefore a little optimistic.');
  }
  if (r.stopped) notes.push(`The run was stopped early (${r.stopped.reason}: ${r.stopped.detail}).`);
  const blips = bound.map((b, i) => (b ? r.timeline[i]?.second : undefined)).filter((s): s is number => s !== undefined);
  // a late event loop on a thread that used little CPU was waiting for a core: other processes competed for it
  const starvedSeconds = flags.filter((f, i) => f.some((x) => x.code === 'loop-delay') && (r.timeline[i]?.generator.cpu ?? 1) < 0.5).length;
  const busySeconds = flags.filter((f) => f.some((x) => x.code === 'cpu' || x.code === 'event-loop')).length;
  const starvedText = 'flood\'s threads were short of CPU while using little of it: other processes on this machine competed for the cores.';
  const starved = starvedSeconds > 0;
  const advice = starvedSeconds > busySeconds
    ? starvedText
    : `Use more --threads, a lower rate, or several machines (floodgate flood merge).${starved ? ` In ${starvedSeconds} of the seconds, ${starvedText.charAt(0).toLowerCase()}${starvedText.slice(1)}` : ''}`;
  let text: string;
  const t = tally(r.counts);
  const nothingSucceeded = t.ok === 0;
  if (nothingSucceeded) {
    const why = [
      ...Object.entries(r.counts.statuses).sort(([a], [b]) => Number(a) - Number(b)).map(([c, n]) => `${c} × ${formatInt(n)}`),
      ...ERROR_KINDS.filter((k) => r.counts.failures[k] > 0).map((k) => `${k} × ${formatInt(r.counts.failures[k])}`),
    ];
    text = t.hits === 0
      ? 'NOTHING SUCCEEDED: no request finished, so there is nothing to measure.'
      : `NOTHING SUCCEEDED: none of the ${formatInt(t.hits)} requests got a successful answer (${why.join(', ')}); ` +
        'the figures describe failures, not the server at work. Check the URL, that the server is up, and --ok.';
  } else if (from !== null) {
    text =
      `GENERATOR-BOUND from ${from} s on (${boundSeconds} of ${r.timeline.length} s): ${worst.join(', ')}. ` +
      `From then on the throughput and latency describe flood as much as the server. ${advice}`;
  } else if (boundSeconds > 0) {
    text =
      `TRUSTWORTHY, with ${boundSeconds} brief generator stall${boundSeconds > 1 ? 's' : ''} ` +
      `(at ${blips.slice(0, 5).map((s) => `${s} s`).join(', ')}${blips.length > 5 ? ', …' : ''}: ${worst.join(', ')}); ` +
      `the tail percentiles of those seconds include flood's own delay.${starved ? ` ${advice}` : ''}`;
  } else {
    text =
      `TRUSTWORTHY: flood kept up (CPU max ${pct(g.maxCpu)} of a core, event loop max ${pct(g.maxElu)} busy, ` +
      `loop delay p99 max ${formatMs(g.maxLoopDelayP99)}${r.scenario.model === 'open' ? `, send delay p99 ${formatMs(g.sendDelay.p99)}` : ''}).`;
  }
  return {
    trustworthy: from === null,
    nothingSucceeded,
    generatorBoundFrom: from,
    boundSeconds,
    totalSeconds: r.timeline.length,
    reasons: [...counted.entries()].sort((a, b) => b[1] - a[1]).map(([k]) => k),
    notes,
    text,
  };
}

/** The reasons of the worst bound second (most reasons, then highest CPU). */
function worstReasons(timeline: readonly SecondEntry[], flags: readonly BoundReason[][]): string[] {
  let best = -1;
  for (let i = 0; i < flags.length; i++) {
    const f = flags[i] ?? [];
    if (f.length === 0) continue;
    if (best < 0 || f.length > (flags[best]?.length ?? 0) ||
      (f.length === (flags[best]?.length ?? 0) && (timeline[i]?.generator.cpu ?? 0) > (timeline[best]?.generator.cpu ?? 0))) best = i;
  }
  return best < 0 ? [] : (flags[best] ?? []).map((f) => f.text);
}
