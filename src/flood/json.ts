// The JSON result: a documented, versioned schema (docs/flood.md, "JSON result") that carries the encoded HDR
// histograms, so results from several machines merge exactly. Writing derives the summary, thresholds and verdict
// for readers; reading keeps only the raw material (counts, histograms, timeline) and derives the rest again.
import { decodeHistogram, encodeHistogram, latencyStats } from './histogram.ts';
import { ERROR_KINDS } from './outcome.ts';
import { emptyCounts, summarize, type Counts, type FloodResult, type GeneratorSecond, type RunInfo, type Scenario, type SecondEntry, type Stopped } from './result.ts';
import type { ThresholdOutcome } from './threshold.ts';
import { generatorSummary, verdict } from './verdict.ts';
import { UsageError } from './usage.ts';

export const SCHEMA = 'floodgate-flood-result';
export const SCHEMA_VERSION = 1;
export const MATRIX_SCHEMA = 'floodgate-flood-matrix';

export interface ToolInfo {
  readonly name: string;
  readonly version: string;
  readonly node: string;
}

/** The JSON document of one result (version 1). */
export function resultToJson(r: FloodResult, tool: ToolInfo, thresholds: readonly ThresholdOutcome[]): Record<string, unknown> {
  const s = summarize(r);
  const v = verdict(r);
  const g = generatorSummary(r);
  const open = r.scenario.model === 'open';
  return {
    schema: SCHEMA,
    version: SCHEMA_VERSION,
    tool,
    scenario: r.scenario,
    runs: r.runs.map((run) => ({ ...run, startedAtIso: new Date(run.startedAt).toISOString() })),
    startedAt: r.startedAt,
    startedAtIso: new Date(r.startedAt).toISOString(),
    durationMs: round(r.durationMs),
    summary: {
      hits: s.hits,
      ok: s.ok,
      errors: s.errors,
      timeouts: s.timeouts,
      errorRate: s.errorRate,
      rps: round(s.rps),
      okRps: round(s.okRps),
      latencyMs: roundStats(s.latency),
      uncorrectedLatencyMs: open ? roundStats(s.uncorrected) : null,
      failureLatencyMs: roundStats(s.failureLatency),
      connectMs: roundStats(s.connect),
    },
    counts: r.counts,
    histograms: {
      unit: 'microseconds',
      encoding: 'HdrHistogram compressed V2, base64',
      success: encodeHistogram(r.histograms.success),
      uncorrected: open ? encodeHistogram(r.histograms.uncorrected) : null,
      failure: encodeHistogram(r.histograms.failure),
      connect: encodeHistogram(r.histograms.connect),
      sendDelay: open ? encodeHistogram(r.histograms.sendDelay) : null,
    },
    timeline: r.timeline.map((e) => ({
      second: e.second,
      durationMs: round(e.durationMs),
      counts: e.counts,
      targetRps: e.targetRps === null ? null : round(e.targetRps),
      latencyMs: roundStats(e.latency),
      histograms: e.histograms,
      generator: roundObject(e.generator),
    })),
    stopped: r.stopped,
    generator: {
      maxCpu: round(g.maxCpu),
      maxEventLoopUtilization: round(g.maxElu),
      maxLoopDelayP99Ms: round(g.maxLoopDelayP99),
      maxLoopDelayMs: round(g.maxLoopDelay),
      sendDelayMs: open ? roundStats(g.sendDelay) : null,
      targetRps: g.targetRps === null ? null : round(g.targetRps),
      achievedRps: round(g.achievedRps),
      missedSends: g.missedSends,
      lateSends: g.lateSends,
      waitedForConnection: g.waitedForConnection,
    },
    thresholds: thresholds.map((t) => ({ threshold: t.threshold, passed: t.passed, actual: Number.isFinite(t.actual) ? round(t.actual) : null, shown: t.shown })),
    verdict: v,
  };
}

function round(n: number): number {
  return Math.round(n * 1000) / 1000;
}

function roundStats<T extends object>(o: T): T {
  return roundObject(o);
}

function roundObject<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).map(([k, v]) => [k, typeof v === 'number' ? round(v) : v])) as T;
}

// ── reading ─────────────────────────────────────────────────────────────────────────────────────────────────────

type Json = Record<string, unknown>;

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function need<T>(v: unknown, check: (x: unknown) => boolean, what: string, file: string): T {
  if (!check(v)) throw new UsageError(`${file}: not a flood result (${what} is missing or malformed)`);
  return v as T;
}

const isNum = (x: unknown): boolean => typeof x === 'number' && Number.isFinite(x);
const isStrOrNull = (x: unknown): boolean => x === null || x === undefined || typeof x === 'string';

function readCounts(v: unknown, what: string, file: string): Counts {
  const o = need<Json>(v, isObject, what, file);
  const c = emptyCounts();
  for (const k of ['sent', 'ok', 'responses', 'bytesIn', 'bytesOut', 'connects', 'lateSends', 'waitedForConnection', 'missedSends'] as const) {
    c[k] = typeof o[k] === 'number' ? o[k] : 0;
  }
  const statuses = need<Json>(o['statuses'] ?? {}, isObject, `${what}.statuses`, file);
  for (const [code, n] of Object.entries(statuses)) c.statuses[code] = need<number>(n, isNum, `${what}.statuses`, file);
  const failures = need<Json>(o['failures'] ?? {}, isObject, `${what}.failures`, file);
  for (const k of ERROR_KINDS) c.failures[k] = typeof failures[k] === 'number' ? failures[k] : 0;
  return c;
}

/** Reads a result written by `resultToJson` (any version this build knows). */
export function resultFromJson(doc: unknown, file: string): FloodResult {
  const o = need<Json>(doc, isObject, 'the document', file);
  if (o['schema'] !== SCHEMA) {
    throw new UsageError(`${file}: not a flood result (schema is ${JSON.stringify(o['schema'])}, expected "${SCHEMA}")`);
  }
  if (o['version'] !== SCHEMA_VERSION) {
    throw new UsageError(`${file}: result schema version ${String(o['version'])}; this floodgate reads version ${SCHEMA_VERSION}`);
  }
  const scenario = need<Scenario>(o['scenario'], isObject, 'scenario', file);
  const runs = need<RunInfo[]>(o['runs'], Array.isArray, 'runs', file).map((run) => {
    const { startedAtIso: _ignored, ...rest } = run as RunInfo & { startedAtIso?: string };
    return rest;
  });
  const h = need<Json>(o['histograms'], isObject, 'histograms', file);
  for (const k of ['success', 'uncorrected', 'failure', 'connect', 'sendDelay']) need(h[k], isStrOrNull, `histograms.${k}`, file);
  const success = decodeHistogram(h['success'] as string | null);
  const timeline = need<unknown[]>(o['timeline'], Array.isArray, 'timeline', file).map((raw, i): SecondEntry => {
    const e = need<Json>(raw, isObject, `timeline[${i}]`, file);
    const hist = need<Json>(e['histograms'], isObject, `timeline[${i}].histograms`, file);
    const successEnc = need<string | null>(hist['success'] ?? null, isStrOrNull, `timeline[${i}].histograms.success`, file);
    const failureEnc = need<string | null>(hist['failure'] ?? null, isStrOrNull, `timeline[${i}].histograms.failure`, file);
    const gen = need<Json>(e['generator'], isObject, `timeline[${i}].generator`, file);
    const num = (k: string): number => (typeof gen[k] === 'number' ? gen[k] : 0);
    const generator: GeneratorSecond = {
      elu: num('elu'), cpu: num('cpu'), loopDelayP99: num('loopDelayP99'), loopDelayMax: num('loopDelayMax'),
      connections: num('connections'), sendDelayP99: num('sendDelayP99'), lateSends: num('lateSends'),
      waitedForConnection: num('waitedForConnection'),
    };
    return {
      second: need<number>(e['second'], isNum, `timeline[${i}].second`, file),
      durationMs: need<number>(e['durationMs'], isNum, `timeline[${i}].durationMs`, file),
      counts: readCounts(e['counts'], `timeline[${i}].counts`, file),
      targetRps: typeof e['targetRps'] === 'number' ? e['targetRps'] : null,
      histograms: { success: successEnc, failure: failureEnc },
      latency: latencyStats(decodeHistogram(successEnc)),
      generator,
    };
  });
  const open = scenario.model === 'open';
  return {
    scenario,
    runs,
    startedAt: need<number>(o['startedAt'], isNum, 'startedAt', file),
    durationMs: need<number>(o['durationMs'], isNum, 'durationMs', file),
    counts: readCounts(o['counts'], 'counts', file),
    histograms: {
      success,
      uncorrected: open ? decodeHistogram(h['uncorrected'] as string | null) : success,
      failure: decodeHistogram(h['failure'] as string | null),
      connect: decodeHistogram(h['connect'] as string | null),
      sendDelay: decodeHistogram(h['sendDelay'] as string | null),
    },
    timeline,
    stopped: isObject(o['stopped']) ? (o['stopped'] as unknown as Stopped) : null,
  };
}

/** Reads a result file's text: a single result, or every result of a matrix file. */
export function resultsFromText(text: string, file: string): FloodResult[] {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new UsageError(`${file}: not JSON (${(err as Error).message})`);
  }
  if (isObject(doc) && doc['schema'] === MATRIX_SCHEMA && Array.isArray(doc['results'])) {
    return doc['results'].map((r, i) => resultFromJson(r, `${file} (scenario ${i + 1})`));
  }
  return [resultFromJson(doc, file)];
}
