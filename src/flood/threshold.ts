// Thresholds for CI: `p99<50ms`, `p99.9<=200ms`, `max<1s`, `mean<20ms`, `errors<0.1%`, `errors<=10`,
// `timeouts<1%`, `rps>=1000`. Latency thresholds judge successful responses as reported (from the schedule in the
// open model). A breach fails the run (exit 1); a threshold that cannot be read is a usage error (exit 2).
import { percentileMs } from './histogram.ts';
import { summarize, type FloodResult } from './result.ts';
import { formatInt, formatMs, formatPercent, parseDuration, parseRate } from './units.ts';
import { UsageError } from './usage.ts';

export type Operator = '<' | '<=' | '>' | '>=';

export type Threshold =
  | { readonly source: string; readonly metric: 'latency'; readonly stat: number | 'mean' | 'max'; readonly op: Operator; readonly value: number }
  | { readonly source: string; readonly metric: 'errors' | 'timeouts'; readonly op: Operator; readonly value: number; readonly percent: boolean }
  | { readonly source: string; readonly metric: 'rps'; readonly op: Operator; readonly value: number };

const SHAPE = /^\s*([A-Za-z][A-Za-z0-9.]*)\s*(<=|>=|<|>)\s*(\S.*?)\s*$/;
const HELP = 'write it as METRIC OP VALUE, e.g. p99<50ms, p99.9<=200ms, max<1s, mean<20ms, errors<0.1%, errors<=10, timeouts<1%, rps>=1000';

export function parseThreshold(text: string): Threshold {
  const m = SHAPE.exec(text);
  if (!m) throw new UsageError(`--threshold '${text}': ${HELP}`);
  const name = (m[1] ?? '').toLowerCase();
  const op = m[2] as Operator;
  const raw = m[3] ?? '';
  const where = `--threshold '${text}'`;
  const pm = /^p(\d+(?:\.\d+)?)$/.exec(name);
  if (pm || name === 'max' || name === 'mean' || name === 'avg') {
    let stat: number | 'mean' | 'max';
    if (pm) {
      stat = Number(pm[1]);
      if (!(stat > 0 && stat <= 100)) throw new UsageError(`${where}: a percentile lies between p0 and p100`);
    } else {
      stat = name === 'max' ? 'max' : 'mean';
    }
    if (/^\d+(\.\d+)?$/.test(raw)) throw new UsageError(`${where}: give the latency a unit, e.g. ${raw}ms`);
    return { source: text, metric: 'latency', stat, op, value: parseDuration(raw, where) };
  }
  if (name === 'errors' || name === 'timeouts') {
    const percent = raw.endsWith('%');
    const n = Number(percent ? raw.slice(0, -1) : raw);
    if (raw === '' || !Number.isFinite(n) || n < 0 || (percent && n > 100) || (!percent && !Number.isInteger(n))) {
      throw new UsageError(`${where}: expected a share such as 0.1% or a whole count such as 10`);
    }
    return { source: text, metric: name, op, value: percent ? n / 100 : n, percent };
  }
  if (name === 'rps') {
    return { source: text, metric: 'rps', op, value: parseRate(raw, where) };
  }
  throw new UsageError(`${where}: unknown metric '${m[1] ?? ''}' (known: p50, p90, p99, p99.9, any pNN, max, mean, errors, timeouts, rps)`);
}

export interface ThresholdOutcome {
  readonly threshold: string;
  readonly passed: boolean;
  /** The measured value, in the threshold's unit (ms, a 0..1 share, a count, requests/s). */
  readonly actual: number;
  /** The measured value for people. */
  readonly shown: string;
}

function compare(actual: number, op: Operator, limit: number): boolean {
  switch (op) {
    case '<': return actual < limit;
    case '<=': return actual <= limit;
    case '>': return actual > limit;
    case '>=': return actual >= limit;
  }
}

export function evaluateThresholds(thresholds: readonly Threshold[], r: FloodResult): ThresholdOutcome[] {
  const s = summarize(r);
  return thresholds.map((t) => {
    let actual: number;
    let shown: string;
    switch (t.metric) {
      case 'latency':
        if (s.latency.count === 0) {
          // nothing succeeded: there is no latency to be proud of, whatever the limit says
          return { threshold: t.source, passed: false, actual: Number.NaN, shown: 'no successful responses' };
        }
        actual = t.stat === 'mean' ? s.latency.mean : t.stat === 'max' ? s.latency.max : percentileMs(r.histograms.success, t.stat);
        shown = formatMs(actual);
        break;
      case 'errors':
      case 'timeouts': {
        const n = t.metric === 'errors' ? s.errors + s.timeouts : s.timeouts;
        actual = t.percent ? (s.hits === 0 ? 0 : n / s.hits) : n;
        shown = t.percent ? formatPercent(actual) : formatInt(actual);
        break;
      }
      case 'rps':
        actual = s.rps;
        shown = `${formatInt(actual)} rps`;
        break;
    }
    return { threshold: t.source, passed: compare(actual, t.op, t.value), actual, shown };
  });
}
