// Merging results from several machines (or several runs) into one exact report: counts add, histograms add bucket
// by bucket (so the merged p99 is the p99 of every request of every run, never an average of p99s), and timelines
// add second by second, aligned on each run's start.
import { addEncoded, encodeHistogram, latencyStats, newHistogram } from './histogram.ts';
import { addCounts, emptyCounts, type FloodResult, type Scenario, type SecondEntry } from './result.ts';

/**
 * Why the runs cannot be read as one run, or undefined: merged runs are meant to have run at the same time (one
 * per load machine), so two whose time spans do not overlap would read as load that never ran at once.
 */
export function overlapProblem(results: readonly FloodResult[]): string | undefined {
  const spans = results.flatMap((r): readonly { host: string; startedAt: number; durationMs: number }[] => (r.runs.length > 0 ? r.runs : [{ host: 'run', startedAt: r.startedAt, durationMs: r.durationMs }]))
    .map((run, i) => ({ label: `run ${i + 1} (${run.host}, from ${new Date(run.startedAt).toISOString()})`, from: run.startedAt, to: run.startedAt + run.durationMs }));
  for (let i = 0; i < spans.length; i++) {
    for (let j = i + 1; j < spans.length; j++) {
      const a = spans[i];
      const b = spans[j];
      if (a === undefined || b === undefined) continue;
      const [first, second] = a.from <= b.from ? [a, b] : [b, a];
      if (second.from >= first.to) {
        return `the runs did not overlap in time: ${second.label} started ${((second.from - first.to) / 1000).toFixed(1)} s after ${first.label} ended`;
      }
    }
  }
  return undefined;
}

export function mergeResults(results: readonly FloodResult[]): FloodResult {
  const [first] = results;
  if (!first) throw new Error('nothing to merge');
  if (results.length === 1) return first;
  const counts = emptyCounts();
  const histograms = {
    success: newHistogram(), uncorrected: newHistogram(), failure: newHistogram(), connect: newHistogram(),
    sendDelay: newHistogram(),
  };
  for (const r of results) {
    addCounts(counts, r.counts);
    histograms.success.add(r.histograms.success);
    histograms.uncorrected.add(r.histograms.uncorrected);
    histograms.failure.add(r.histograms.failure);
    histograms.connect.add(r.histograms.connect);
    histograms.sendDelay.add(r.histograms.sendDelay);
  }
  const same = <T>(pick: (s: Scenario) => T): boolean => results.every((r) => JSON.stringify(pick(r.scenario)) === JSON.stringify(pick(first.scenario)));
  const scenario: Scenario = {
    ...first.scenario,
    name: same((s) => s.name) ? first.scenario.name : results.map((r) => r.scenario.name ?? r.scenario.url).join(' + '),
    url: same((s) => s.url) ? first.scenario.url : 'several URLs (see runs)',
    connections: results.reduce((n, r) => n + r.scenario.connections, 0),
    threads: results.reduce((n, r) => n + r.scenario.threads, 0),
    // the same rate profile on every machine adds up; different profiles have no single sum to show
    stages: same((s) => s.stages)
      ? first.scenario.stages.map((st) => ({ ...st, from: st.from * results.length, to: st.to * results.length }))
      : [],
  };
  return {
    scenario,
    runs: results.flatMap((r) => r.runs),
    startedAt: Math.min(...results.map((r) => r.startedAt)),
    durationMs: Math.max(...results.map((r) => r.durationMs)),
    counts,
    histograms,
    timeline: mergeTimelines(results.map((r) => r.timeline)),
    stopped: results.find((r) => r.stopped !== null)?.stopped ?? null,
  };
}

function mergeTimelines(timelines: readonly (readonly SecondEntry[])[]): SecondEntry[] {
  const bySecond = new Map<number, SecondEntry[]>();
  for (const t of timelines) {
    for (const e of t) {
      const list = bySecond.get(e.second) ?? [];
      list.push(e);
      bySecond.set(e.second, list);
    }
  }
  return [...bySecond.keys()].sort((a, b) => a - b).map((second) => {
    const entries = bySecond.get(second) ?? [];
    const counts = emptyCounts();
    const success = newHistogram();
    const failure = newHistogram();
    let target: number | null = null;
    const g = { elu: 0, cpu: 0, loopDelayP99: 0, loopDelayMax: 0, connections: 0, sendDelayP99: 0, lateSends: 0, waitedForConnection: 0 };
    let durationMs = 0;
    for (const e of entries) {
      addCounts(counts, e.counts);
      addEncoded(success, e.histograms.success);
      addEncoded(failure, e.histograms.failure);
      if (e.targetRps !== null) target = (target ?? 0) + e.targetRps;
      durationMs = Math.max(durationMs, e.durationMs);
      g.elu = Math.max(g.elu, e.generator.elu);
      g.cpu = Math.max(g.cpu, e.generator.cpu);
      g.loopDelayP99 = Math.max(g.loopDelayP99, e.generator.loopDelayP99);
      g.loopDelayMax = Math.max(g.loopDelayMax, e.generator.loopDelayMax);
      // per-second send delays are kept as p99 only: the merged figure is the worst machine's
      g.sendDelayP99 = Math.max(g.sendDelayP99, e.generator.sendDelayP99);
      g.connections += e.generator.connections;
      g.lateSends += e.generator.lateSends;
      g.waitedForConnection += e.generator.waitedForConnection;
    }
    return {
      second,
      durationMs,
      counts,
      targetRps: target,
      histograms: { success: encodeHistogram(success), failure: encodeHistogram(failure) },
      latency: latencyStats(success),
      generator: g,
    };
  });
}
