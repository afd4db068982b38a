// The HTML report: one self-contained file (inline CSS and SVG, no script, no network) with the summary tables,
// throughput, latency percentiles, errors and generator health over time, and the latency distribution.
import { percentileMs } from '../histogram.ts';
import { ERROR_KINDS, isTimeoutKind } from '../outcome.ts';
import { scenarioLabel, summarize, type FloodResult } from '../result.ts';
import type { ThresholdOutcome } from '../threshold.ts';
import { formatInt, formatMs, formatPercent, pct } from '../units.ts';
import { boundReasons, generatorSummary, LOOP_DELAY_LIMIT_MS, verdict } from '../verdict.ts';
import { describeScenario, formatBytes } from './terminal.ts';
import { barChart, escapeXml as esc, lineChart } from './svg.ts';

export interface HtmlEntry {
  readonly result: FloodResult;
  readonly thresholds: readonly ThresholdOutcome[];
}

const CSS = `
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px auto;max-width:900px;color:#1d232a;padding:0 12px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #dde2e7;padding-bottom:4px}
.sub{color:#5a6673}.verdict{padding:10px 14px;border-radius:6px;margin:14px 0;font-weight:600}
.ok{background:#e6f4ea;border:1px solid #9ed3ad}.bad{background:#fdecea;border:1px solid #f1a9a0}.warn{background:#fff6e0;border:1px solid #f0c96b}
table{border-collapse:collapse;margin:8px 0;font-variant-numeric:tabular-nums;display:block;overflow-x:auto;max-width:100%}
th,td{padding:4px 10px;border-bottom:1px solid #e6e9ed;text-align:right;white-space:nowrap}th{background:#f4f6f8}
td:first-child,th:first-child{text-align:left}.big td{font-size:17px;font-weight:600}
.pass{color:#17803d;font-weight:600}.breach{color:#c5221f;font-weight:700}
svg{display:block;margin:10px 0 18px;background:#fff}
svg .t{font-weight:600;font-size:13px}svg .grid{stroke:#edf0f3}svg .axis{stroke:#9aa5b1}
svg .yt{font-size:11px;text-anchor:end;dominant-baseline:middle;fill:#5a6673}
svg .xt{font-size:11px;text-anchor:middle;fill:#5a6673}svg .xl,svg .yl{font-size:11px;text-anchor:middle;fill:#5a6673}
svg .lg{font-size:11px;fill:#1d232a}svg .band{fill:#f8d7d3;opacity:.7}svg .none{font-size:13px;text-anchor:middle;fill:#9aa5b1}
.note{color:#5a6673;margin:4px 0}
`;

const C = { blue: '#1f6feb', green: '#1a7f37', grey: '#8c959f', orange: '#d4740a', red: '#cf222e', purple: '#8250df', teal: '#0e8a8a' };

export function renderHtml(entries: readonly HtmlEntry[], title: string, generatedAt = new Date()): string {
  const body: string[] = [];
  body.push(`<h1>${esc(title)}</h1><p class="sub">floodgate flood report · generated ${esc(generatedAt.toISOString())}</p>`);
  if (entries.length > 1) body.push(comparison(entries.map((e) => e.result)));
  for (const e of entries) body.push(section(e, entries.length > 1));
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">` +
    `<title>${esc(title)}</title><style>${CSS}</style></head><body>${body.join('\n')}</body></html>\n`;
}

function comparison(results: readonly FloodResult[]): string {
  const rows = results.map((r) => {
    const s = summarize(r);
    const v = verdict(r);
    return `<tr><td>${esc(scenarioLabel(r.scenario))}</td><td>${formatInt(s.rps)}</td><td>${formatMs(s.latency.p50)}</td><td>${formatMs(s.latency.p99)}</td><td>${formatMs(s.latency.p999)}</td><td>${formatMs(s.latency.max)}</td><td>${formatInt(s.errors)}</td><td>${formatInt(s.timeouts)}</td><td>${formatPercent(s.errorRate)}</td><td>${v.trustworthy ? 'trustworthy' : `generator-bound from ${v.generatorBoundFrom ?? 0} s`}</td></tr>`;
  });
  return `<h2>Comparison</h2><table><tr><th>Scenario</th><th>rps</th><th>p50</th><th>p99</th><th>p99.9</th><th>max</th><th>errors</th><th>timeouts</th><th>error rate</th><th>verdict</th></tr>${rows.join('')}</table>`;
}

function section(entry: HtmlEntry, titled: boolean): string {
  const r = entry.result;
  const s = summarize(r);
  const v = verdict(r);
  const g = generatorSummary(r);
  const open = r.scenario.model === 'open';
  const out: string[] = [];
  if (titled) out.push(`<h2>${esc(scenarioLabel(r.scenario))}</h2>`);
  out.push(`<p class="sub">${esc(`${r.scenario.method} ${r.scenario.url}`)}<br>${esc(describeScenario(r.scenario))}` +
    `${r.runs.length > 1 ? `<br>merged from ${r.runs.length} runs: ${esc(r.runs.map((x) => x.host).join(', '))}` : ''}` +
    `<br>started ${esc(new Date(r.startedAt).toISOString())}, ran ${(r.durationMs / 1000).toFixed(2)} s</p>`);
  out.push(`<div class="verdict ${!v.trustworthy ? 'bad' : v.boundSeconds > 0 ? 'warn' : 'ok'}">${esc(v.text)}</div>`);
  for (const n of v.notes) out.push(`<p class="note">${esc(n)}</p>`);
  out.push(`<table class="big"><tr><th>Hits</th><th>Errors</th><th>Timeouts</th><th>Avg response</th><th>Error rate</th><th>Throughput</th></tr>` +
    `<tr><td>${formatInt(s.hits)}</td><td>${formatInt(s.errors)}</td><td>${formatInt(s.timeouts)}</td><td>${s.latency.count > 0 ? formatMs(s.latency.mean) : '-'}</td><td>${formatPercent(s.errorRate)}</td><td>${formatInt(s.rps)} rps</td></tr></table>`);
  const lat = (label: string, st: typeof s.latency): string =>
    `<tr><td>${esc(label)}</td>${[st.p50, st.p90, st.p99, st.p999, st.max, st.mean].map((x) => `<td>${st.count > 0 ? formatMs(x) : '-'}</td>`).join('')}<td>${formatInt(st.count)}</td></tr>`;
  out.push(`<table><tr><th>Latency</th><th>p50</th><th>p90</th><th>p99</th><th>p99.9</th><th>max</th><th>mean</th><th>count</th></tr>` +
    lat(open ? 'successes, from schedule (corrected)' : 'successes', s.latency) +
    (open ? lat('successes, from send (uncorrected)', s.uncorrected) : '') +
    (s.failureLatency.count > 0 ? lat('failures', s.failureLatency) : '') +
    (s.connect.count > 0 ? lat(r.scenario.url.startsWith('https') ? 'connect (TCP + TLS)' : 'connect (TCP)', s.connect) : '') + '</table>');
  if (entry.thresholds.length > 0) {
    out.push(`<table><tr><th>Threshold</th><th>measured</th><th>result</th></tr>${entry.thresholds.map((t) =>
      `<tr><td>${esc(t.threshold)}</td><td>${esc(t.shown)}</td><td class="${t.passed ? 'pass' : 'breach'}">${t.passed ? 'pass' : 'BREACH'}</td></tr>`).join('')}</table>`);
  }
  out.push(...charts(r));
  const statuses = Object.entries(r.counts.statuses).sort(([a], [b]) => Number(a) - Number(b));
  const failures = ERROR_KINDS.filter((k) => r.counts.failures[k] > 0);
  out.push(`<table><tr><th>Outcome</th><th>count</th></tr>${statuses.map(([c, n]) => `<tr><td>status ${esc(c)}</td><td>${formatInt(n)}</td></tr>`).join('')}` +
    `${failures.map((k) => `<tr><td>${esc(k)}</td><td>${formatInt(r.counts.failures[k])}</td></tr>`).join('')}</table>`);
  out.push(`<table><tr><th>Generator</th><th></th></tr>` +
    `<tr><td>CPU, max of any thread</td><td>${pct(g.maxCpu)} of a core</td></tr>` +
    `<tr><td>event-loop utilisation, max</td><td>${pct(g.maxElu)}</td></tr>` +
    `<tr><td>event-loop delay p99, max</td><td>${formatMs(g.maxLoopDelayP99)}</td></tr>` +
    (open ? `<tr><td>send delay p50 / p99 / max</td><td>${formatMs(g.sendDelay.p50)} / ${formatMs(g.sendDelay.p99)} / ${formatMs(g.sendDelay.max)}</td></tr>` +
      `<tr><td>target / achieved rate</td><td>${formatInt(g.targetRps ?? 0)} / ${formatInt(g.achievedRps)} rps</td></tr>` +
      `<tr><td>missed / late sends, waited for a connection</td><td>${formatInt(g.missedSends)} / ${formatInt(g.lateSends)} / ${formatInt(g.waitedForConnection)}</td></tr>` : '') +
    `<tr><td>data in / out</td><td>${formatBytes(r.counts.bytesIn)} / ${formatBytes(r.counts.bytesOut)}</td></tr></table>`);
  return out.join('\n');
}

function charts(r: FloodResult): string[] {
  const t = r.timeline;
  // a point stands for the slice of time that ends there: the first second is drawn at 1 s
  const xs = t.map((e) => e.second + e.durationMs / 1000);
  const per = (n: number, e: (typeof t)[number]): number => n / (e.durationMs / 1000);
  // Shaded as the verdict says: from the second flood became the bottleneck on; under a trustworthy verdict only
  // its brief stalls, named as such.
  const v = verdict(r);
  const from = v.generatorBoundFrom;
  const bands: [number, number][] = t.filter((e) => (from !== null ? e.second >= from : boundReasons(e).length > 0)).map((e) => [e.second, e.second + 1]);
  const bandLabel = from !== null ? 'flood itself was the bottleneck from here on' : 'a brief generator stall: this second\'s tail percentiles include flood\'s own delay';
  const out: string[] = [];
  const throughput = [
    { name: 'finished/s', color: C.blue, values: t.map((e) => per(e.counts.responses + failuresOf(e.counts.failures), e)) },
    { name: 'successful/s', color: C.green, values: t.map((e) => per(e.counts.ok, e)) },
  ];
  if (r.scenario.model === 'open') {
    throughput.push({ name: 'sent/s', color: C.purple, values: t.map((e) => per(e.counts.sent, e)) });
    out.push(lineChart({ title: 'Throughput', xs, xLabel: 'seconds', xFrom: 0, yLabel: 'requests per second', bands, bandLabel,
      series: [...throughput, { name: 'target', color: C.grey, values: t.map((e) => e.targetRps), dashed: true }] }));
  } else {
    out.push(lineChart({ title: 'Throughput', xs, xLabel: 'seconds', xFrom: 0, yLabel: 'requests per second', series: throughput, bands, bandLabel }));
  }
  out.push(lineChart({
    title: `Latency of successes per second${r.scenario.model === 'open' ? ' (from schedule)' : ''}`, xs, xLabel: 'seconds', xFrom: 0, yLabel: 'latency (log scale)', log: true, bands, bandLabel,
    formatY: tickMs,
    series: [
      { name: 'p50', color: C.green, values: t.map((e) => (e.latency.count > 0 ? e.latency.p50 : null)) },
      { name: 'p90', color: C.blue, values: t.map((e) => (e.latency.count > 0 ? e.latency.p90 : null)) },
      { name: 'p99', color: C.orange, values: t.map((e) => (e.latency.count > 0 ? e.latency.p99 : null)) },
      { name: 'max', color: C.red, values: t.map((e) => (e.latency.count > 0 ? e.latency.max : null)) },
    ],
  }));
  const statusClass = (e: (typeof t)[number], lo: number, hi: number): number =>
    Object.entries(e.counts.statuses).reduce((n, [c, k]) => (Number(c) >= lo && Number(c) < hi ? n + k : n), 0);
  out.push(barChart({
    title: 'Errors per second', xs: t.map((e) => e.second), xLabel: 'seconds', xFrom: 0, yLabel: 'failed requests', integer: true, series: [
      { name: 'timeouts', color: C.orange, values: t.map((e) => ERROR_KINDS.filter(isTimeoutKind).reduce((n, k) => n + e.counts.failures[k], 0)) },
      { name: 'socket errors', color: C.purple, values: t.map((e) => ERROR_KINDS.filter((k) => !isTimeoutKind(k)).reduce((n, k) => n + e.counts.failures[k], 0)) },
      { name: '5xx', color: C.red, values: t.map((e) => statusClass(e, 500, 600)) },
      { name: 'other error statuses', color: C.teal, values: t.map((e) => Math.max(0, e.counts.responses - e.counts.ok - statusClass(e, 500, 600))) },
    ],
  }));
  out.push(lineChart({
    title: `Load generator health (shaded: ${from !== null ? 'flood was the bottleneck' : 'brief generator stalls'})`, xs, xLabel: 'seconds', xFrom: 0, yLabel: '% of one core / of the loop', yMax: 100, bands, bandLabel,
    formatY: (v) => `${v}%`,
    series: [
      { name: 'CPU', color: C.blue, values: t.map((e) => e.generator.cpu * 100) },
      { name: 'event loop busy', color: C.orange, values: t.map((e) => e.generator.elu * 100) },
    ],
  }));
  const delays = [
    { name: 'event-loop delay p99', color: C.orange, values: t.map((e) => e.generator.loopDelayP99) },
    { name: `limit (${LOOP_DELAY_LIMIT_MS} ms)`, color: C.grey, values: t.map(() => LOOP_DELAY_LIMIT_MS), dashed: true },
  ];
  if (r.scenario.model === 'open') delays.splice(1, 0, { name: 'send delay p99', color: C.purple, values: t.map((e) => e.generator.sendDelayP99) });
  out.push(lineChart({
    title: 'Load generator delays per second', xs, xLabel: 'seconds', xFrom: 0, yLabel: 'delay (log scale)', log: true,
    formatY: tickMs, bands, bandLabel, series: delays,
  }));
  const ps = [0, 50, 75, 90, 95, 99, 99.5, 99.9, 99.95, 99.99, 99.999, 100];
  const px = ps.map((p) => Math.min(5.5, Math.log10(100 / Math.max(100 - p, 0.0003))));
  const spectrum = [{ name: r.scenario.model === 'open' ? 'corrected (from schedule)' : 'successes', color: C.blue, values: ps.map((p) => percentileMs(r.histograms.success, p)) }];
  if (r.scenario.model === 'open') spectrum.push({ name: 'uncorrected (from send)', color: C.grey, values: ps.map((p) => percentileMs(r.histograms.uncorrected, p)) });
  out.push(lineChart({
    title: 'Latency by percentile, whole run', xs: px, xLabel: 'percentile', yLabel: 'latency (log scale)', log: true, series: spectrum,
    formatY: tickMs,
    formatX: (v) => (Math.abs(v - Math.round(v)) < 1e-9 ? `${+(100 - 100 / 10 ** Math.round(v)).toFixed(4)}%` : ''),
  }));
  return out;
}

/** Axis ticks of a log scale of milliseconds: 100 µs, 1 ms, 10 ms, 1 s. */
function tickMs(v: number): string {
  if (v >= 1000) return `${+(v / 1000).toPrecision(3)} s`;
  if (v >= 1) return `${+v.toPrecision(3)} ms`;
  return `${+(v * 1000).toPrecision(3)} µs`;
}

function failuresOf(f: Record<string, number>): number {
  return Object.values(f).reduce((a, b) => a + b, 0);
}
