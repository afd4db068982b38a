// The edge: parse and validate the request, ask the ContentService, write the answer. No business logic.
// The cached read path is synchronous end to end: a fresh memory entry is answered without a promise.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { ContentService } from '../content/service.ts';
import { collectionProblem, keyProblem } from '../content/keys.ts';
import { DEFAULT_COLLECTION } from '../content/record.ts';
import type { Entry, Outcome } from '../tiers/memory.ts';
import type { Admission, Ticket } from './admission.ts';
import type { Credentials } from './auth.ts';
import { createDegrade } from './degrade.ts';
import { HttpError, errorBody, toHttpError } from './errors.ts';
import type { Metrics, Route } from './metrics.ts';
import type { PressureMonitor } from './pressure.ts';
import { handleWrite, handleBulk, type WriteLimits } from './writes.ts';

export interface RouteDeps {
  service: ContentService;
  metrics: Metrics;
  logger: Logger;
  readAuth: Credentials | undefined;
  writeAuth: Credentials | undefined;
  limits: WriteLimits;
  logRequests: boolean;
  /** Admission control of reads the memory tier cannot answer at once; pressure sampled off the hot path. */
  admission: Admission;
  pressure: PressureMonitor;
  /** Dependencies /readyz checks, each rejecting when not ready. */
  readiness: Readiness;
}

const JSON_TYPE = 'application/json; charset=utf-8';
const NOT_FOUND_BODY = errorBody('FG_ERR_NOT_FOUND');

/** Dependencies /readyz checks; a required one failing makes the instance not ready. */
export type Readiness = Record<string, { check: () => Promise<void>; required: boolean }>;

export type Handler = (req: IncomingMessage, res: ServerResponse) => void;

export function createHandler(deps: RouteDeps): Handler {
  const { service, metrics, logger } = deps;
  const cacheControl = new Map<string, string>();
  const cacheControlOf = (collection: string): string => {
    let v = cacheControl.get(collection);
    if (v === undefined) {
      v = `max-age=${Math.round(service.ttlMs(collection) / 1000)}`;
      if (cacheControl.size < 10_000) cacheControl.set(collection, v);
    }
    return v;
  };

  const finish = (route: Route, status: number, t0: number, req: IncomingMessage): void => {
    metrics.inFlight--;
    metrics.request(route, status, (performance.now() - t0) / 1000);
    if (deps.logRequests) logger.info({ method: req.method, url: req.url, status, ms: performance.now() - t0 }, 'request');
  };

  const fail = (res: ServerResponse, route: Route, t0: number, req: IncomingMessage, err: unknown): void => {
    const { error, internal } = toHttpError(err);
    if (internal) logger.error({ err, method: req.method, url: req.url }, 'internal error');
    sendError(res, error);
    finish(route, error.status, t0, req);
  };

  const answer = (req: IncomingMessage, res: ServerResponse, collection: string, entry: Entry, outcome: Outcome): number => {
    metrics.memory(outcome);
    const record = entry.record;
    if (record === undefined) {
      res.writeHead(404, ['Content-Type', JSON_TYPE, 'Content-Length', String(Buffer.byteLength(NOT_FOUND_BODY)), 'Cache-Control', 'no-store', 'X-Cache', outcome]);
      res.end(req.method === 'HEAD' ? undefined : NOT_FOUND_BODY);
      return 404;
    }
    const cc = cacheControlOf(collection);
    if (rawHeader(req.rawHeaders, 'if-none-match') === entry.etag) {
      res.writeHead(304, ['ETag', entry.etag, 'Cache-Control', cc, 'X-Cache', outcome]);
      res.end();
      return 304;
    }
    res.writeHead(200, ['Content-Type', record.contentType, 'Content-Length', String(record.body.length), 'ETag', entry.etag, 'Cache-Control', cc, 'X-Cache', outcome]);
    res.end(req.method === 'HEAD' ? undefined : record.body);
    return 200;
  };

  const read = (req: IncomingMessage, res: ServerResponse, route: Route, collection: string, key: string, t0: number): void => {
    if (deps.readAuth && !deps.readAuth.check(req.headers.authorization)) {
      throw new HttpError('FG_ERR_UNAUTHORIZED', undefined, { 'WWW-Authenticate': deps.readAuth.challenge });
    }
    const fresh = service.fresh(collection, key);
    if (fresh !== undefined) {
      finish(route, answer(req, res, collection, fresh, 'hit'), t0, req);
      return;
    }
    miss(req, res, route, collection, key, t0);
  };

  // Not fresh in memory: under pressure answer degraded at once; else wait for a slot, within the deadline.
  // A function of its own, so the closures below cost the hot path (a fresh hit) nothing.
  const miss = (req: IncomingMessage, res: ServerResponse, route: Route, collection: string, key: string, t0: number): void => {
    const pressure = deps.pressure.reasonAt(t0);
    if (pressure !== undefined) {
      finish(route, degrade(req, res, collection, key, pressure), t0, req);
      return;
    }
    const ticket: Ticket = deps.admission.submit(
      t0,
      () => {
        service.get(collection, key).then(
          (lookup) => {
            deps.admission.done(ticket);
            if (!ticket.expired) finish(route, answer(req, res, collection, lookup.entry, lookup.outcome), t0, req);
          },
          (err: unknown) => {
            deps.admission.done(ticket);
            if (ticket.expired) return;
            const { error } = toHttpError(err);
            if (error.code === 'FG_ERR_STORE_TIMEOUT' || error.code === 'FG_ERR_STORE_UNAVAILABLE') {
              finish(route, degrade(req, res, collection, key, 'store-error', error), t0, req);
            } else fail(res, route, t0, req, err);
          },
        );
      },
      (reason) => finish(route, degrade(req, res, collection, key, reason), t0, req),
    );
  };
  const degrade = createDegrade({
    service,
    registry: metrics.registry,
    admission: deps.admission,
    pressure: deps.pressure,
    answerEntry: (req, res, collection, entry) => answer(req, res, collection, entry, 'stale'),
  });

  return function handle(req, res) {
    const t0 = performance.now();
    metrics.inFlight++;
    const url = req.url ?? '/';
    const method = req.method ?? 'GET';
    let route: Route = 'other';
    try {
      const q = url.indexOf('?');
      const path = q === -1 ? url : url.slice(0, q);
      if (path === '/data') {
        route = 'data';
        allow(method, 'GET, HEAD');
        const raw = q === -1 ? undefined : queryParam(url, q + 1, 'user_id');
        if (raw === undefined) throw new HttpError('FG_ERR_BAD_REQUEST', 'The user_id query parameter is required: /data?user_id=42');
        const key = decode(raw);
        const problem = keyProblem(key);
        if (problem) throw new HttpError('FG_ERR_INVALID_KEY', `Invalid user_id: ${problem}.`);
        read(req, res, route, DEFAULT_COLLECTION, key, t0);
        return;
      }
      if (path.startsWith('/v1/content/')) {
        const rest = path.slice('/v1/content/'.length);
        const slash = rest.indexOf('/');
        if (slash === -1 || rest.indexOf('/', slash + 1) !== -1) {
          throw new HttpError('FG_ERR_ROUTE_NOT_FOUND', 'Content URLs are /v1/content/<collection>/<key> (encode a "/" in a key as %2F).');
        }
        const collection = decode(rest.slice(0, slash));
        const cp = collectionProblem(collection);
        if (cp) throw new HttpError('FG_ERR_INVALID_COLLECTION', `Invalid collection: ${cp}.`);
        const key = decode(rest.slice(slash + 1));
        if (key === '_bulk' && method === 'POST') {
          route = 'bulk';
          handleBulk(req, res, deps, collection).then((status) => finish(route, status, t0, req), (err: unknown) => fail(res, route, t0, req, err));
          return;
        }
        const problem = keyProblem(key);
        if (problem) throw new HttpError('FG_ERR_INVALID_KEY', `Invalid key: ${problem}.`);
        if (method === 'GET' || method === 'HEAD') {
          route = 'content';
          read(req, res, route, collection, key, t0);
          return;
        }
        route = 'write';
        allow(method, 'GET, HEAD, PUT, DELETE');
        handleWrite(req, res, deps, collection, key).then((status) => finish(route, status, t0, req), (err: unknown) => fail(res, route, t0, req, err));
        return;
      }
      if (path === '/healthz') {
        route = 'healthz';
        allow(method, 'GET, HEAD');
        sendJson(res, 200, { status: 'ok' });
        finish(route, 200, t0, req);
        return;
      }
      if (path === '/readyz') {
        route = 'readyz';
        allow(method, 'GET, HEAD');
        readiness(deps.readiness).then(
          ({ ready, status, checks }) => {
            sendJson(res, ready ? 200 : 503, { status, checks });
            finish('readyz', ready ? 200 : 503, t0, req);
          },
          (err: unknown) => fail(res, 'readyz', t0, req, err),
        );
        return;
      }
      if (path === '/metrics') {
        route = 'metrics';
        allow(method, 'GET');
        metrics.scrape().then(
          (text) => {
            res.writeHead(200, { 'Content-Type': metrics.registry.contentType, 'Cache-Control': 'no-store' });
            res.end(text);
            finish('metrics', 200, t0, req);
          },
          (err: unknown) => fail(res, 'metrics', t0, req, err),
        );
        return;
      }
      throw new HttpError('FG_ERR_ROUTE_NOT_FOUND', 'No such route. Reads: GET /data?user_id=<id>, GET /v1/content/<collection>/<key>.');
    } catch (err) {
      fail(res, route, t0, req, err);
    }
  };
}

/**
 * One request header by lower-case name, read from rawHeaders: Node builds `req.headers` lazily on first
 * access, and the cached read path has no other use for it.
 */
function rawHeader(raw: readonly string[], lowerName: string): string | undefined {
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    if (name.length === lowerName.length && name.toLowerCase() === lowerName) return raw[i + 1];
  }
  return undefined;
}

/** Throws 405 unless `method` is one of `allowed` ("GET, HEAD"); a substring check, no allocation per request. */
function allow(method: string, allowed: string): void {
  const at = allowed.indexOf(method);
  const whole = at !== -1 && (at === 0 || allowed.charCodeAt(at - 1) === 32) && (at + method.length === allowed.length || allowed.charCodeAt(at + method.length) === 44);
  if (!whole) {
    throw new HttpError('FG_ERR_METHOD_NOT_ALLOWED', `${method} is not allowed here; allowed: ${allowed}.`, { Allow: allowed });
  }
}

/** The raw value of the first `name=` parameter in url[from..], or undefined. No allocation but the value. */
export function queryParam(url: string, from: number, name: string): string | undefined {
  let i = from;
  while (i < url.length) {
    const amp = url.indexOf('&', i);
    const end = amp === -1 ? url.length : amp;
    if (url.startsWith(name, i) && url.charCodeAt(i + name.length) === 61 /* = */) return url.slice(i + name.length + 1, end);
    if (end - i === name.length && url.startsWith(name, i)) return '';
    i = end + 1;
  }
  return undefined;
}

/** Percent-decodes a URL part ('+' as a space in queries is left alone: ids do not contain spaces). */
function decode(raw: string): string {
  if (raw.indexOf('%') === -1) return raw;
  try {
    return decodeURIComponent(raw);
  } catch {
    throw new HttpError('FG_ERR_BAD_REQUEST', 'The URL has a malformed percent-encoding.');
  }
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': JSON_TYPE, 'Content-Length': Buffer.byteLength(text), 'Cache-Control': 'no-store', ...headers });
  res.end(text);
}

export function sendError(res: ServerResponse, error: HttpError): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const text = errorBody(error.code, error.message);
  res.writeHead(error.status, { 'Content-Type': JSON_TYPE, 'Content-Length': Buffer.byteLength(text), 'Cache-Control': 'no-store', ...error.headers });
  res.end(text);
}

/**
 * Ready while every required dependency answers. An optional one (Redis: reads skip it while it fails) is
 * reported but only makes the status 'degraded': every instance shares it, so failing readiness on it would
 * pull every instance out of the load balancer at once.
 */
async function readiness(checks: Readiness): Promise<{ ready: boolean; status: string; checks: Record<string, string> }> {
  const out: Record<string, string> = {};
  let ready = true;
  let degraded = false;
  await Promise.all(
    Object.entries(checks).map(async ([name, { check, required }]) => {
      try {
        await withTimeout(check(), 1000);
        out[name] = 'ok';
      } catch (err) {
        if (required) ready = false;
        else degraded = true;
        out[name] = `failing: ${(err as Error).message}`;
      }
    }),
  );
  return { ready, status: !ready ? 'not ready' : degraded ? 'degraded' : 'ready', checks: out };
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

