// The terminal summary: the reference posts' table (hits, errors, timeouts, average response time, error rate),
// the percentiles, throughput, status codes and failures, the generator's own health, thresholds, and the verdict
// last. Plain text, no colour: it reads the same in a terminal and in a CI log.
import { ERROR_KINDS } from '../outcome.ts';
import { scenarioLabel, summarize, type FloodResult, type Scenario } from '../result.ts';
import type { ThresholdOutcome } from '../threshold.ts';
import { formatDuration, formatInt, formatMs, formatPercent, pct } from '../units.ts';
import { generatorSummary, verdict } from '../verdict.ts';
import type { LatencyStats } from '../histogram.ts';

/**
 * Lays out rows in columns. `align` has one letter per column, 'l' or 'r'; columns past its end take its last
 * letter. The default puts the first column on the left and numbers on the right.
 */
export function table(rows: readonly (readonly string[])[], indent = '  ', align = 'lr'): string[] {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, [...cell].length)));
  return rows.map((row) =>
    indent + row.map((cell, i) => {
      const pad = ' '.repeat((widths[i] ?? 0) - [...cell].length);
      return (align[Math.min(i, align.length - 1)] ?? 'r') === 'l' ? cell + pad : pad + cell;
    }).join('   ').trimEnd(),
  );
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} kB`;
  if (n < 1024 ** 3) return `${(n / 1024 / 1024).toFixed(1)} MB`;
  return `${(n / 1024 ** 3).toFixed(2)} GB`;
}

export function describeScenario(s: Scenario): string {
  const parts: string[] = [];
  if (s.model === 'open') {
    const stages = s.stages.map((st) => (st.from === st.to ? `${formatInt(st.from)} rps for ${formatDuration(st.durationMs)}` : `${formatInt(st.from)}→${formatInt(st.to)} rps over ${formatDuration(st.durationMs)}`));
    parts.push(`open model: ${stages.join(', then ') || 'merged rate profiles'}`, `up to ${formatInt(s.connections)} connections`);
  } else {
    parts.push(`closed model: ${formatInt(s.connections)} connections`);
    if (s.thinkMs) parts.push(`think ${s.thinkMs.min === s.thinkMs.max ? formatMs(s.thinkMs.min) : `${formatMs(s.thinkMs.min)}–${formatMs(s.thinkMs.max)}`}`);
  }
  parts.push(`${s.threads} thread${s.threads > 1 ? 's' : ''}`);
  if (s.durationMs !== null && s.model === 'closed') parts.push(formatDuration(s.durationMs));
  if (s.requests !== null) parts.push(`${formatInt(s.requests)} requests`);
  parts.push(s.newConnection ? 'new connection per request' : 'keep-alive', `timeout ${formatDuration(s.timeoutMs)}`);
  return parts.join(' · ');
}

function statsRow(label: string, st: LatencyStats): string[] {
  return st.count === 0
    ? [label, '-', '-', '-', '-', '-', '-', '0']
    : [label, formatMs(st.p50), formatMs(st.p90), formatMs(st.p99), formatMs(st.p999), formatMs(st.max), formatMs(st.mean), formatInt(st.count)];
}

export function renderSummary(r: FloodResult, thresholds: readonly ThresholdOutcome[]): string {
  const s = summarize(r);
  const v = verdict(r);
  const g = generatorSummary(r);
  const open = r.scenario.model === 'open';
  const out: string[] = [];
  out.push(`floodgate flood · ${r.scenario.name ? `${r.scenario.name} · ` : ''}${r.scenario.method} ${r.scenario.url}`);
  out.push(`  ${describeScenario(r.scenario)}${r.runs.length > 1 ? ` · merged from ${r.runs.length} runs (${r.runs.map((x) => x.host).join(', ')})` : ''}`);
  out.push('');
  out.push(...table([
    ['Hits', 'Errors', 'Timeouts', 'Avg response', 'Error rate'],
    [formatInt(s.hits), formatInt(s.errors), formatInt(s.timeouts), s.latency.count > 0 ? formatMs(s.latency.mean) : '-', formatPercent(s.errorRate)],
  ], '  ', 'r'));
  out.push(`  (Hits: requests that finished, answered or failed; not cache hits. Errors: answers with a status outside --ok ${r.scenario.ok}, and connection failures.)`);
  out.push('');
  const rows: string[][] = [['Latency', 'p50', 'p90', 'p99', 'p99.9', 'max', 'mean', 'count']];
  rows.push(statsRow(open ? 'successes, from schedule (corrected)' : 'successes', s.latency));
  if (open) rows.push(statsRow('successes, from send (uncorrected)', s.uncorrected));
  if (s.failureLatency.count > 0) rows.push(statsRow('failures', s.failureLatency));
  if (s.connect.count > 0) rows.push(statsRow(r.scenario.url.startsWith('https') ? 'connect (TCP + TLS)' : 'connect (TCP)', s.connect));
  out.push(...table(rows));
  out.push('');
  out.push(`  Throughput    ${formatInt(s.rps)} requests/s over ${(s.durationS).toFixed(2)} s (successful ${formatInt(s.okRps)}/s) · ${formatInt(r.counts.sent)} sent · ${formatBytes(r.counts.bytesIn)} in, ${formatBytes(r.counts.bytesOut)} out`);
  const statuses = Object.entries(r.counts.statuses).sort(([a], [b]) => Number(a) - Number(b));
  out.push(`  Status codes  ${statuses.length === 0 ? 'none' : statuses.map(([c, n]) => `${c} × ${formatInt(n)}`).join(' · ')}`);
  // Failures lists what Errors and Timeouts count: statuses outside --ok, then requests that got no answer.
  const failures = [
    ...statuses.filter(([c]) => !okStatuses(r.scenario.ok)(Number(c))).map(([c, n]) => `status ${c} × ${formatInt(n)}`),
    ...ERROR_KINDS.filter((k) => r.counts.failures[k] > 0).map((k) => `${k} × ${formatInt(r.counts.failures[k])}`),
  ];
  out.push(`  Failures      ${failures.length === 0 ? 'none' : failures.join(' · ')}`);
  out.push(`  Generator     CPU max ${pct(g.maxCpu)} of a core · event loop max ${pct(g.maxElu)} busy · loop delay p99 max ${formatMs(g.maxLoopDelayP99)}`);
  if (open) {
    out.push(`                send delay p50 ${formatMs(g.sendDelay.p50)} · p99 ${formatMs(g.sendDelay.p99)} · max ${formatMs(g.sendDelay.max)} · ` +
      `target ${formatInt(g.targetRps ?? 0)} rps, achieved ${formatInt(g.achievedRps)} rps · ` +
      `missed sends ${formatInt(g.missedSends)} · late sends ${formatInt(g.lateSends)} · waited for a connection ${formatInt(g.waitedForConnection)}`);
  }
  if (r.stopped) out.push(`  Stopped early ${r.stopped.reason === 'bail' ? 'by --bail' : 'by the user'}: ${r.stopped.detail}`);
  if (thresholds.length > 0) {
    out.push('');
    out.push('  Thresholds');
    for (const t of thresholds) {
      out.push(`    ${t.passed ? 'pass  ' : 'BREACH'}  ${t.threshold.padEnd(18)} measured ${t.shown}`);
    }
  }
  out.push('');
  out.push(`  Verdict: ${v.text}`);
  for (const n of v.notes) out.push(`  Note: ${n}`);
  return `${out.join('\n')}\n`;
}

/** Whether a status counts as success under an --ok text such as "200-399,404". */
function okStatuses(ok: string): (status: number) => boolean {
  const ranges = ok.split(',').map((part) => part.split('-').map((x) => Number(x.trim())));
  return (status) => ranges.some(([from, to]) => from !== undefined && status >= from && status <= (to ?? from));
}

/** One row per scenario: the matrix comparison table. */
export function renderComparison(results: readonly FloodResult[]): string {
  const rows: string[][] = [['Scenario', 'rps', 'p50', 'p90', 'p99', 'p99.9', 'max', 'hits', 'errors', 'timeouts', 'error rate', 'verdict']];
  for (const r of results) {
    const s = summarize(r);
    const v = verdict(r);
    rows.push([
      scenarioLabel(r.scenario), formatInt(s.rps), formatMs(s.latency.p50), formatMs(s.latency.p90), formatMs(s.latency.p99),
      formatMs(s.latency.p999), formatMs(s.latency.max), formatInt(s.hits), formatInt(s.errors), formatInt(s.timeouts),
      formatPercent(s.errorRate), v.trustworthy ? 'trustworthy' : `generator-bound from ${v.generatorBoundFrom ?? 0} s`,
    ]);
  }
  return `${table(rows, '  ', 'lrrrrrrrrrrl').join('\n')}\n`;
}
