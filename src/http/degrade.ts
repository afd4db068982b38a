// The answer to a read that cannot have its content in time, in this order: stale content if the memory tier
// holds any (X-Cache: stale); else the collection's fallback body (200, X-Fallback: 1); else 503 JSON with
// Retry-After. A blanket 503 under a spike makes Braze stop calling the host for a minute, hence the order.
// Every degraded answer says why in X-Degraded-Reason and counts in floodgate_degraded_total{answer,reason}.
// Refusals are built once, at start, and written whole (fast-path.ts Prebuilt).
import type { IncomingMessage, ServerResponse } from 'node:http';
import client from 'prom-client';
import type { ContentService } from '../content/service.ts';
import type { CachedContent } from '../content/read-result.ts';
import { SHED_REASONS, type ShedReason } from './admission.ts';
import { HttpError, RETRY_AFTER_S, errorBody, type ErrorCode } from './errors.ts';
import { Prebuilt } from './fast-path.ts';
import { JSON_TYPE, sendPrebuilt } from './respond.ts';

type Answer = 'stale' | 'fallback' | 'refused';
const ANSWERS: readonly Answer[] = ['stale', 'fallback', 'refused'];
const STALE = 0;
const FALLBACK = 1;
const REFUSED = 2;

const REFUSALS: Record<Exclude<ShedReason, 'store-error' | 'origin-error'>, { code: ErrorCode; message: string }> = {
  deadline: { code: 'FG_ERR_DEADLINE', message: 'The content could not be produced within the deadline; retry later.' },
  'queue-full': { code: 'FG_ERR_OVERLOADED', message: 'The server is overloaded (too many reads waiting on the store); retry later.' },
  'event-loop': { code: 'FG_ERR_OVERLOADED', message: 'The server is overloaded (its event loop is behind or has no idle time left); retry later.' },
  memory: { code: 'FG_ERR_OVERLOADED', message: 'The server is overloaded (memory above its watermark); retry later.' },
};

export interface Degrade {
  /**
   * Answers a read degraded; `error` is the source's failure for 'store-error' / 'origin-error' (answered when
   * no stale content or fallback exists). Returns the status sent.
   */
  (req: IncomingMessage, res: ServerResponse, collection: string, key: string, reason: ShedReason, error?: HttpError): number;
}

export interface DegradeDeps {
  service: ContentService;
  registry: client.Registry;
  /** Writes a cached entry (ETag, 304, HEAD): the same writer as a normal hit. */
  answerEntry: (req: IncomingMessage, res: ServerResponse, collection: string, entry: CachedContent) => number;
}

export function createDegrade(deps: DegradeDeps): Degrade {
  const { service } = deps;
  // Plain numbers a degraded answer, handed to prom-client at scrape time (labels().inc() hashes the labels on
  // every call: 5 % of a refusal's CPU in a profile of refusing every miss). Every series is there from the start,
  // at zero (also after the reset that follows the warm-up), so that rate() and alerts see a 0 rather than nothing.
  const NAME = 'floodgate_degraded_total';
  const HELP = 'Reads answered without fresh content, by answer (stale, fallback, refused = 503) and reason (deadline, queue-full, event-loop, memory, store-error, origin-error).';
  const counts = new Float64Array(ANSWERS.length * SHED_REASONS.length);
  const reasonIndex = new Map(SHED_REASONS.map((r, i) => [r, i]));
  const count = (a: number, r: ShedReason): void => {
    const i = a * SHED_REASONS.length + (reasonIndex.get(r) as number);
    counts[i] = (counts[i] as number) + 1;
  };
  deps.registry.registerMetric({
    name: NAME, help: HELP, type: 'counter', aggregator: 'sum',
    get() {
      const values = ANSWERS.flatMap((answer, a) => SHED_REASONS.map((reason, r) => ({ value: counts[a * SHED_REASONS.length + r] as number, labels: { answer, reason } })));
      return { name: NAME, help: HELP, type: 'counter', aggregator: 'sum', values };
    },
    reset() {
      counts.fill(0);
    },
  } as unknown as client.Metric);

  const refusals = new Map<ShedReason, Prebuilt>();
  for (const [reason, r] of Object.entries(REFUSALS) as [ShedReason, { code: ErrorCode; message: string }][]) {
    refusals.set(reason, new Prebuilt(503, ['Content-Type', JSON_TYPE, 'Cache-Control', 'no-store', 'Retry-After', RETRY_AFTER_S, 'X-Degraded-Reason', reason], Buffer.from(errorBody(r.code, r.message))));
  }

  // A collection's fallback answers, built on first use (a fallback body is the collection's, fixed at start).
  const fallbacks = new WeakMap<object, Map<ShedReason, Prebuilt>>();

  return function degrade(req, res, collection, key, reason, error) {
    if (res.headersSent || res.destroyed) return 503;
    const entry = service.anyCached(collection, key);
    if (entry !== undefined) {
      count(STALE, reason);
      res.setHeader('X-Degraded-Reason', reason);
      return deps.answerEntry(req, res, collection, entry);
    }
    const fallback = service.collection(collection)?.fallback;
    if (fallback !== undefined) {
      count(FALLBACK, reason);
      let byReason = fallbacks.get(fallback);
      if (byReason === undefined) fallbacks.set(fallback, (byReason = new Map()));
      let answer = byReason.get(reason);
      if (answer === undefined) {
        answer = new Prebuilt(200, ['Content-Type', fallback.contentType, 'Cache-Control', 'no-store', 'X-Fallback', '1', 'X-Degraded-Reason', reason], fallback.body);
        byReason.set(reason, answer);
      }
      sendPrebuilt(req, res, answer);
      return 200;
    }
    count(REFUSED, reason);
    const refusal = refusals.get(reason);
    if (refusal === undefined) {
      const e = error ?? new HttpError('FG_ERR_STORE_UNAVAILABLE', undefined, { 'Retry-After': RETRY_AFTER_S });
      const text = errorBody(e.code, e.message);
      res.writeHead(e.status, { 'Content-Type': JSON_TYPE, 'Content-Length': Buffer.byteLength(text), 'Cache-Control': 'no-store', ...e.headers, 'X-Degraded-Reason': reason });
      res.end(req.method === 'HEAD' ? undefined : text);
      return e.status;
    }
    sendPrebuilt(req, res, refusal);
    return 503;
  };
}
