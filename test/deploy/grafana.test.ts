// deploy/grafana/floodgate.json: every PromQL expression names metrics, and labels of them, that a real
// `floodgate serve` (PostgreSQL + Redis, two workers, after some reads) exports on /metrics. Labels Prometheus
// adds to every target (instance, job) and labels an expression makes itself (label_replace) are allowed.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { pgArgs, pgSchema } from '../integration/helpers.ts';
import { startRedisServer } from '../support/redis-server.ts';
import { serve } from '../support/serve.ts';

const DASHBOARD = new URL('../../deploy/grafana/floodgate.json', import.meta.url);
const TARGET_LABELS = new Set(['instance', 'job']);
const PROMQL_WORDS = new Set(['sum', 'min', 'max', 'avg', 'count', 'rate', 'irate', 'increase', 'by', 'without', 'histogram_quantile', 'label_replace', 'on', 'ignoring', 'group_left', 'group_right', 'and', 'or', 'unless', 'bool', 'offset', 'label_values']);

interface Panel { title: string; targets?: { expr: string }[]; panels?: Panel[] }

export function expressions(json: { panels: Panel[]; templating?: { list: { query?: { query?: string } | string }[] } }): { where: string; expr: string }[] {
  const out: { where: string; expr: string }[] = [];
  const walk = (panels: Panel[]): void => {
    for (const p of panels) {
      for (const t of p.targets ?? []) out.push({ where: p.title, expr: t.expr });
      walk(p.panels ?? []);
    }
  };
  walk(json.panels);
  for (const v of json.templating?.list ?? []) {
    const q = typeof v.query === 'string' ? v.query : v.query?.query;
    if (q?.includes('floodgate_')) out.push({ where: 'variable', expr: q });
  }
  return out;
}

/** The metric names and, per name, the label names /metrics exports (series and # TYPE lines). */
export function exported(text: string): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  for (const line of text.split('\n')) {
    const type = /^# TYPE (\S+) (\S+)/.exec(line);
    if (type) {
      const name = type[1] as string;
      if (!out.has(name)) out.set(name, new Set());
      if (type[2] === 'histogram') for (const s of ['_bucket', '_sum', '_count']) if (!out.has(name + s)) out.set(name + s, new Set(s === '_bucket' ? ['le'] : []));
      continue;
    }
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{([^}]*)\})? /.exec(line);
    if (!m) continue;
    const labels = out.get(m[1] as string) ?? new Set<string>();
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="/g)) labels.add(l[1] as string);
    out.set(m[1] as string, labels);
  }
  return out;
}

/** What an expression asks for: metric selectors with their matcher labels, and the labels of by(…) clauses. */
export function references(expr: string): { metrics: { name: string; labels: string[] }[]; grouping: string[]; made: string[] } {
  const metrics: { name: string; labels: string[] }[] = [];
  const noStrings = expr.replace(/"(?:[^"\\]|\\.)*"/g, '""');
  for (const m of expr.matchAll(/\b([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(\{[^}]*\})?/g)) {
    const name = m[1] as string;
    if (PROMQL_WORDS.has(name) || !name.startsWith('floodgate_')) continue;
    const labels = [...(m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)/g)].map((l) => l[1] as string);
    metrics.push({ name, labels });
  }
  const grouping = [...noStrings.matchAll(/\b(?:by|without)\s*\(([^)]*)\)/g)].flatMap((g) => (g[1] as string).split(',').map((s) => s.trim()).filter(Boolean));
  const made = [...expr.matchAll(/label_replace\([^,]+,\s*"([^"]+)"/g)].map((g) => g[1] as string);
  // label_values(metric, label) in a variable
  for (const lv of expr.matchAll(/label_values\((floodgate_[a-zA-Z0-9_]+),\s*([a-zA-Z_]+)\)/g)) grouping.push(lv[2] as string);
  return { metrics, grouping, made };
}

test('every Grafana expression names metrics and labels that /metrics exports', async () => {
  const json = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as Parameters<typeof expressions>[0];
  const exprs = expressions(json);
  assert.ok(exprs.length >= 15, `${exprs.length} expressions`);
  await using redis = await startRedisServer();
  await using schema = pgSchema();
  await using srv = await serve({ args: [...pgArgs(schema.name), '--redis-url', redis.url, '--workers', '2', '--seed', '100'] });
  for (let i = 1; i <= 50; i++) await (await fetch(`${srv.url}/data?user_id=${i}`)).arrayBuffer();
  const text = await (await fetch(`${srv.url}/metrics`)).text();
  const have = exported(text);
  const problems: string[] = [];
  for (const { where, expr } of exprs) {
    const refs = references(expr);
    assert.ok(refs.metrics.length > 0, `${where}: ${expr} names no floodgate metric`);
    const labelsOfExpr = new Set<string>([...TARGET_LABELS, ...refs.made]);
    for (const { name, labels } of refs.metrics) {
      const known = have.get(name);
      if (!known) {
        problems.push(`${where}: ${name} is not exported`);
        continue;
      }
      for (const l of known) labelsOfExpr.add(l);
      for (const l of labels) if (!known.has(l) && !TARGET_LABELS.has(l)) problems.push(`${where}: ${name} has no label ${l}`);
    }
    for (const l of refs.grouping) if (!labelsOfExpr.has(l)) problems.push(`${where}: grouping by ${l}, which no metric of "${expr}" has`);
  }
  assert.deepEqual(problems, []);
});

test('the checker itself catches a misspelt metric and a label that does not exist', () => {
  const have = exported('# TYPE floodgate_x_total counter\nfloodgate_x_total{route="data"} 1\n');
  const bad = references('sum by (status) (rate(floodgate_x_totl{route="data"}[1m]))');
  assert.equal(have.has(bad.metrics[0]?.name ?? ''), false);
  const wrongLabel = references('rate(floodgate_x_total{rout="data"}[1m])');
  assert.equal(have.get('floodgate_x_total')?.has(wrongLabel.metrics[0]?.labels[0] ?? ''), false);
  assert.deepEqual(bad.grouping, ['status']);
});
