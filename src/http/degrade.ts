// The answer to a read that cannot have its content in time, in this order: stale content if the memory tier
// holds any (X-Cache: stale); else the collection's fallback body (200, X-Fallback: 1); else 503 JSON with
// Retry-After. A blanket 503 under a spike makes Braze stop calling the host for a minute, hence the order.
// Every degraded answer says why in X-Degraded-Reason and counts in floodgate_degraded_total{answer,reason}.
// Refusal bodies are built once, at start.
import type { IncomingMessage, ServerResponse } from 'node:http';
import client from 'prom-client';
import type { ContentService } from '../content/service.ts';
import type { CachedContent } from '../content/read-result.ts';
import { SHED_REASONS, type ShedReason } from './admission.ts';
import { HttpError, RETRY_AFTER_S, errorBody, type ErrorCode } from './errors.ts';
import { JSON_TYPE } from './respond.ts';

type Answer = 'stale' | 'fallback' | 'refused';
const ANSWERS: readonly Answer[] = ['stale', 'fallback', 'refused'];

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
  const counter = new client.Counter({
    name: 'floodgate_degraded_total',
    help: 'Reads answered without fresh content, by answer (stale, fallback, refused = 503) and reason (deadline, queue-full, event-loop, memory, store-error, origin-error).',
    labelNames: ['answer', 'reason'],
    registers: [deps.registry],
    // Every series is there from the start, at zero (also after the reset that follows the warm-up), so that
    // rate() and alerts see a 0 rather than nothing.
    collect() {
      for (const answer of ANSWERS) for (const reason of SHED_REASONS) this.inc({ answer, reason }, 0);
    },
  });
  const children = new Map<string, client.Counter.Internal>();
  for (const a of ANSWERS) for (const r of SHED_REASONS) children.set(a + r, counter.labels(a, r));
  const count = (a: Answer, r: ShedReason): void => children.get(a + r)?.inc();

  const refusals = new Map<ShedReason, { body: Buffer; headers: string[] }>();
  for (const [reason, r] of Object.entries(REFUSALS) as [ShedReason, { code: ErrorCode; message: string }][]) {
    const body = Buffer.from(errorBody(r.code, r.message));
    refusals.set(reason, {
      body,
      headers: ['Content-Type', JSON_TYPE, 'Content-Length', String(body.length), 'Cache-Control', 'no-store', 'Retry-After', RETRY_AFTER_S, 'X-Degraded-Reason', reason],
    });
  }

  return function degrade(req, res, collection, key, reason, error) {
    if (res.headersSent || res.destroyed) return 503;
    const entry = service.anyCached(collection, key);
    if (entry !== undefined) {
      count('stale', reason);
      res.setHeader('X-Degraded-Reason', reason);
      return deps.answerEntry(req, res, collection, entry);
    }
    const fallback = service.collection(collection)?.fallback;
    if (fallback !== undefined) {
      count('fallback', reason);
      res.writeHead(200, ['Content-Type', fallback.contentType, 'Content-Length', String(fallback.body.length), 'Cache-Control', 'no-store', 'X-Fallback', '1', 'X-Degraded-Reason', reason]);
      res.end(req.method === 'HEAD' ? undefined : fallback.body);
      return 200;
    }
    count('refused', reason);
    const refusal = refusals.get(reason);
    if (refusal === undefined) {
      const e = error ?? new HttpError('FG_ERR_STORE_UNAVAILABLE', undefined, { 'Retry-After': RETRY_AFTER_S });
      const text = errorBody(e.code, e.message);
      res.writeHead(e.status, { 'Content-Type': JSON_TYPE, 'Content-Length': Buffer.byteLength(text), 'Cache-Control': 'no-store', ...e.headers, 'X-Degraded-Reason': reason });
      res.end(req.method === 'HEAD' ? undefined : text);
      return e.status;
    }
    res.writeHead(503, refusal.headers);
    res.end(req.method === 'HEAD' ? undefined : refusal.body);
    return 503;
  };
}
