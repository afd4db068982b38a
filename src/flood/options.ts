// The options of a run, validated once into a frozen FloodConfig. The CLI and the matrix file both speak the
// same raw form (the long option names, values as strings), so a matrix scenario accepts exactly the flags.
import { readFileSync } from 'node:fs';
import { parseOkStatuses } from './outcome.ts';
import type { Scenario } from './result.ts';
import { parseStage } from './schedule.ts';
import { parseCount, parseDuration, parsePercent, parseRate } from './units.ts';
import { UsageError } from './usage.ts';

/** Option values as the user gave them: strings (or string lists, or booleans for switches). */
export interface RawOptions {
  url?: string | undefined;
  name?: string | undefined;
  method?: string | undefined;
  header?: string[] | undefined;
  body?: string | undefined;
  connections?: string | undefined;
  threads?: string | undefined;
  duration?: string | undefined;
  requests?: string | undefined;
  rate?: string | undefined;
  stage?: string[] | undefined;
  think?: string | undefined;
  timeout?: string | undefined;
  'new-connection'?: boolean | undefined;
  insecure?: boolean | undefined;
  ok?: string | undefined;
  bail?: string | undefined;
}

export const DEFAULTS = {
  /** Closed model: virtual users (connections). */
  closedConnections: 10,
  /** Open model: the most connections the pool may open. */
  openConnections: 1000,
  threads: 1,
  /** Used when neither --duration, --requests nor --stage bounds the run. */
  durationMs: 10_000,
  /** Per request, connect included. */
  timeoutMs: 2_000,
  ok: '200-399',
} as const;

/** A resolved run: the scenario a result reports, plus what only the run itself needs. */
export interface FloodConfig extends Omit<Scenario, 'method'> {
  /** undefined: GET, or POST when there is a body (decided with the request template). */
  readonly method: string | undefined;
  readonly okTable: Uint8Array;
  /** Stop when a second's error rate exceeds this fraction. */
  readonly bail: number | null;
}

function parseThink(text: string): { min: number; max: number } {
  const dash = text.indexOf('-');
  const min = parseDuration(dash < 0 ? text : text.slice(0, dash), '--think');
  const max = dash < 0 ? min : parseDuration(text.slice(dash + 1), '--think');
  if (max < min) throw new UsageError(`--think: '${text}': the upper bound is below the lower one`);
  return { min, max };
}

function readBody(body: string): string {
  if (!body.startsWith('@')) return body;
  try {
    return readFileSync(body.slice(1), 'utf8');
  } catch (err) {
    throw new UsageError(`--body: cannot read '${body.slice(1)}': ${(err as Error).message}`);
  }
}

export function resolveOptions(raw: RawOptions): FloodConfig {
  const url = raw.url;
  if (url === undefined || url === '') throw new UsageError('no URL given: floodgate flood URL [options] (see --help)');
  const stages = (raw.stage ?? []).map(parseStage);
  if (raw.rate !== undefined && stages.length > 0) {
    throw new UsageError('--rate sets a constant rate and --stage a rate profile: use one or the other');
  }
  if (stages.length > 0 && raw.duration !== undefined) {
    throw new UsageError('with --stage the stages set the length of the run; drop --duration');
  }
  const requests = raw.requests === undefined ? null : parseCount(raw.requests, '--requests');
  let durationMs = raw.duration === undefined ? null : parseDuration(raw.duration, '--duration');
  if (durationMs !== null && durationMs <= 0) throw new UsageError('--duration must be longer than 0');
  if (raw.rate !== undefined) {
    const rate = parseRate(raw.rate, '--rate');
    if (rate <= 0) throw new UsageError('--rate must be above 0');
    // a constant rate is one long stage; the duration (or the request count) decides where it ends
    if (durationMs === null && requests === null) durationMs = DEFAULTS.durationMs;
    const holdMs = durationMs ?? (requests === null ? DEFAULTS.durationMs : (requests / rate) * 1000 + 1);
    stages.push({ durationMs: holdMs, from: rate, to: rate });
  } else if (stages.length === 0 && durationMs === null && requests === null) {
    durationMs = DEFAULTS.durationMs;
  }
  const model = stages.length > 0 ? 'open' : 'closed';
  const think = raw.think === undefined ? null : parseThink(raw.think);
  if (think !== null && model === 'open') {
    throw new UsageError('--think belongs to the closed model (-c users); the open model (--rate/--stage) has no users to think');
  }
  const connections = raw.connections === undefined
    ? (model === 'open' ? DEFAULTS.openConnections : DEFAULTS.closedConnections)
    : parseCount(raw.connections, '--connections');
  const threads = raw.threads === undefined ? DEFAULTS.threads : parseCount(raw.threads, '--threads');
  if (threads > connections) throw new UsageError(`--threads ${threads} is more than --connections ${connections}: each thread needs a connection`);
  const timeoutMs = raw.timeout === undefined ? DEFAULTS.timeoutMs : parseDuration(raw.timeout, '--timeout');
  if (timeoutMs <= 0) throw new UsageError('--timeout must be longer than 0');
  const ok = raw.ok ?? DEFAULTS.ok;
  const okTable = parseOkStatuses(ok);
  const bail = raw.bail === undefined ? null : parsePercent(raw.bail, '--bail');
  return Object.freeze({
    name: raw.name ?? null,
    url,
    method: raw.method,
    headers: raw.header ?? [],
    body: raw.body === undefined ? null : readBody(raw.body),
    model,
    connections,
    threads,
    stages,
    durationMs,
    requests,
    timeoutMs,
    thinkMs: think,
    newConnection: raw['new-connection'] ?? false,
    insecure: raw.insecure ?? false,
    ok,
    okTable,
    bail,
  });
}
