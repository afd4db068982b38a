// How a read is answered (GET/HEAD /data and /v1/content/<collection>/<key>), the hot path:
// 1. fresh in memory: answered synchronously, without a promise (most requests under a spike end here);
// 2. not fresh, under pressure (pressure.ts): answered degraded at once (degrade.ts);
// 3. else the read waits for an admission slot (admission.ts) and goes down the tiers (ContentService.get),
//    answered with content, or degraded when its deadline passes or the store fails.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { CachedContent, Outcome } from '../content/read-result.ts';
import type { ContentRecord } from '../content/record.ts';
import type { ContentService, SourceHeaders } from '../content/service.ts';
import type { Admission, Ticket } from './admission.ts';
import type { Credentials } from './auth.ts';
import { createDegrade } from './degrade.ts';
import { HttpError, errorBody, toHttpError } from './errors.ts';
import { registerOverloadGauges, type Metrics, type Route } from './metrics.ts';
import type { PressureMonitor } from './pressure.ts';
import { JSON_TYPE, bodyUnread, sendError } from './respond.ts';

export interface ReadDeps {
  service: ContentService;
  metrics: Metrics;
  readAuth: Credentials | undefined;
  /** Admission control of reads the memory tier cannot answer at once; pressure sampled off the hot path. */
  admission: Admission;
  pressure: PressureMonitor;
  /** Where a record that cannot be sent is logged, with its key. */
  logger: Logger;
}

/** Counts a finished request (and logs it when asked); from the dispatcher. */
export type Finish = (route: Route, collection: string | undefined, status: number, t0: number, req: IncomingMessage, res: ServerResponse) => void;
/** Answers an error and finishes the request. */
export type Fail = (res: ServerResponse, route: Route, collection: string | undefined, t0: number, req: IncomingMessage, err: unknown) => void;
/** Answers one read of a validated collection and key; throws HttpError (401) before writing anything. */
export type Read = (req: IncomingMessage, res: ServerResponse, route: Route, collection: string, key: string, t0: number) => void;

const NOT_FOUND_BODY = errorBody('FG_ERR_NOT_FOUND');

export function createRead(deps: ReadDeps, finish: Finish, fail: Fail): Read {
  const { service, metrics, logger } = deps;
  const cacheControl = new Map<string, string>();
  const cacheControlOf = (collection: string, record?: ContentRecord): string => {
    // An origin's own freshness (its Cache-Control) is passed on; the collection's TTL otherwise.
    const f = record?.freshness;
    if (f !== undefined) return f.noStore === true ? 'no-store' : `max-age=${Math.round(f.ttlMs / 1000)}`;
    let v = cacheControl.get(collection);
    if (v === undefined) {
      v = `max-age=${Math.round(service.ttlMs(collection) / 1000)}`;
      if (cacheControl.size < 10_000) cacheControl.set(collection, v);
    }
    return v;
  };

  const send = (req: IncomingMessage, res: ServerResponse, collection: string, entry: CachedContent, outcome: Outcome): number => {
    metrics.memory(outcome);
    // A read never reads a body: one still arriving ends the connection after the answer (see bodyUnread).
    if (bodyUnread(req)) res.shouldKeepAlive = false;
    const record = entry.record;
    if (record === undefined) {
      const def = service.collection(collection);
      if (def?.missing === 'fallback' && def.fallback !== undefined) {
        // The collection asks for its fallback body for keys that do not exist (templates want a default).
        res.writeHead(200, ['Content-Type', def.fallback.contentType, 'Content-Length', String(def.fallback.body.length), 'Cache-Control', cacheControlOf(collection), 'X-Fallback', 'missing', 'X-Cache', outcome]);
        res.end(req.method === 'HEAD' ? undefined : def.fallback.body);
        return 200;
      }
      res.writeHead(404, ['Content-Type', JSON_TYPE, 'Content-Length', String(Buffer.byteLength(NOT_FOUND_BODY)), 'Cache-Control', 'no-store', 'X-Cache', outcome]);
      res.end(req.method === 'HEAD' ? undefined : NOT_FOUND_BODY);
      return 404;
    }
    const cc = cacheControlOf(collection, record);
    if (rawHeader(req.rawHeaders, 'if-none-match') === entry.etag) {
      res.writeHead(304, ['ETag', entry.etag, 'Cache-Control', cc, 'X-Cache', outcome]);
      res.end();
      return 304;
    }
    if ((outcome === 'stale' || outcome === 'error-stale') && entry.freshUntil !== undefined) {
      // Served past its TTL: Age says how old it is (loaded at freshUntil - TTL), as an HTTP cache would.
      const age = String(Math.max(0, Math.floor((Date.now() - entry.freshUntil + (record.freshness?.ttlMs ?? service.ttlMs(collection))) / 1000)));
      res.writeHead(200, ['Content-Type', record.contentType, 'Content-Length', String(record.body.length), 'ETag', entry.etag, 'Cache-Control', cc, 'X-Cache', outcome, 'Age', age]);
    } else res.writeHead(200, ['Content-Type', record.contentType, 'Content-Length', String(record.body.length), 'ETag', entry.etag, 'Cache-Control', cc, 'X-Cache', outcome]);
    res.end(req.method === 'HEAD' ? undefined : record.body);
    return 200;
  };

  // Every answer of a record goes through here. A record that cannot be sent (writeHead throws: a Content-Type no
  // validator saw, such as a row written with plain SQL) is a 500 for that request, counted and logged with its
  // key; it must never escape, or on the miss path it rejects a promise nobody handles and the worker dies.
  const answer = (req: IncomingMessage, res: ServerResponse, collection: string, entry: CachedContent, outcome: Outcome): number => {
    try {
      return send(req, res, collection, entry, outcome);
    } catch (err) {
      metrics.unsendable();
      logger.error({ err, collection, key: entry.record?.key, contentType: entry.record?.contentType }, 'a stored record cannot be sent; answered 500');
      sendError(res, new HttpError('FG_ERR_INTERNAL', 'The stored record for this key cannot be sent (for example, its Content-Type is not a valid header value); see the server log.'));
      return 500;
    }
  };

  const read: Read = (req, res, route, collection, key, t0) => {
    if (deps.readAuth && !deps.readAuth.check(req.headers.authorization)) {
      throw new HttpError('FG_ERR_UNAUTHORIZED', undefined, { 'WWW-Authenticate': deps.readAuth.challenge });
    }
    const fresh = service.fresh(collection, key);
    if (fresh !== undefined) {
      finish(route, collection, answer(req, res, collection, fresh, 'hit'), t0, req, res);
      return;
    }
    miss(req, res, route, collection, key, t0);
  };

  // Last resort of a miss's callbacks: nothing in them should throw (answer catches), but a throw there must not
  // kill the process. A try/catch in each rather than a .catch() on the chain: one promise less a miss.
  const lastResort = (res: ServerResponse, collection: string, key: string, err: unknown): void => {
    logger.error({ err, collection, key }, 'error while answering a read');
    sendError(res, toHttpError(err).error);
  };

  // Not fresh in memory: under pressure answer degraded at once; else wait for a slot, within the deadline.
  // A function of its own, so the closures below cost the hot path (a fresh hit) nothing.
  const miss = (req: IncomingMessage, res: ServerResponse, route: Route, collection: string, key: string, t0: number): void => {
    const pressure = deps.pressure.reasonAt(t0, req.socket);
    if (pressure !== undefined) {
      finish(route, collection, degrade(req, res, collection, key, pressure), t0, req, res);
      return;
    }
    const ticket: Ticket = deps.admission.submit(
      t0,
      () => {
        service.get(collection, key, forwarded(req, service.source(collection).forwardHeaders)).then(
          (lookup) => {
            try {
              deps.admission.done(ticket);
              deps.pressure.missAnswered(performance.now() - t0);
              if (!ticket.expired) finish(route, collection, answer(req, res, collection, lookup.entry, lookup.outcome), t0, req, res);
            } catch (err) {
              lastResort(res, collection, key, err);
            }
          },
          (err: unknown) => {
            try {
              deps.admission.done(ticket);
              if (ticket.expired) return;
              const { error } = toHttpError(err);
              if (error.code === 'FG_ERR_STORE_TIMEOUT' || error.code === 'FG_ERR_STORE_UNAVAILABLE') {
                finish(route, collection, degrade(req, res, collection, key, 'store-error', error), t0, req, res);
              } else if (error.code === 'FG_ERR_ORIGIN_TIMEOUT' || error.code === 'FG_ERR_ORIGIN_UNAVAILABLE') {
                finish(route, collection, degrade(req, res, collection, key, 'origin-error', error), t0, req, res);
              } else fail(res, route, collection, t0, req, err);
            } catch (e) {
              lastResort(res, collection, key, e);
            }
          },
        );
      },
      (reason) => finish(route, collection, degrade(req, res, collection, key, reason), t0, req, res),
    );
  };
  const degrade = createDegrade({
    service,
    registry: metrics.registry,
    answerEntry: (req, res, collection, entry) => answer(req, res, collection, entry, 'stale'),
  });
  registerOverloadGauges(metrics.registry, deps.admission, deps.pressure);
  return read;
}

/** The request headers a source forwards (an origin's forwardHeaders); undefined for most collections. */
function forwarded(req: IncomingMessage, names: readonly string[]): SourceHeaders | undefined {
  if (names.length === 0) return undefined;
  const out: Record<string, string> = {};
  for (const name of names) {
    const v = rawHeader(req.rawHeaders, name);
    if (v !== undefined) out[name] = v;
  }
  return out;
}

/**
 * One request header by lower-case name, read from rawHeaders: Node builds `req.headers` lazily on first
 * access, and the cached read path has no other use for it.
 */
export function rawHeader(raw: readonly string[], lowerName: string): string | undefined {
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    if (name.length === lowerName.length && name.toLowerCase() === lowerName) return raw[i + 1];
  }
  return undefined;
}
