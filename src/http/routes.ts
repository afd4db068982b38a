// The edge's dispatcher: match the route, validate the URL, hand the request to its answerer (read.ts for
// reads, writes.ts for writes, warm.ts for floodgate warm's batches, dashboard.ts for /dashboard, here for /healthz, /readyz, /metrics), count it when
// it is answered (a /dashboard/events stream when its headers are sent).
// No business logic. The cached read path is synchronous end to end (read.ts).
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { collectionProblem, keyProblem } from '../content/keys.ts';
import { DEFAULT_COLLECTION } from '../content/record.ts';
import type { Dashboard } from './dashboard.ts';
import { HttpError, toHttpError } from './errors.ts';
import type { Metrics, Route } from './metrics.ts';
import { createRead, rawHeader, type ReadDeps } from './read.ts';
import { readiness, type Readiness } from './readiness.ts';
import { sendError, sendJson } from './respond.ts';
import { allow, decode, queryParam } from './url.ts';
import { handleWarm } from './warm.ts';
import { handleWrite, handleBulk, handlePurge, type WriteDeps } from './writes.ts';

export type { Readiness } from './readiness.ts';

export interface RouteDeps extends ReadDeps, WriteDeps {
  metrics: Metrics;
  logger: Logger;
  logRequests: boolean;
  /** Dependencies /readyz checks, each rejecting when not ready. */
  readiness: Readiness;
  /** GET /dashboard and its stream; absent = 404. */
  dashboard?: Dashboard;
}

export type Handler = (req: IncomingMessage, res: ServerResponse) => void;

export function createHandler(deps: RouteDeps): Handler {
  const { metrics, logger } = deps;
  const finish = (route: Route, collection: string | undefined, status: number, t0: number, req: IncomingMessage, res: ServerResponse): void => {
    metrics.inFlight--;
    metrics.request(route, req.method, collection, status, (performance.now() - t0) / 1000);
    if (deps.logRequests) logRequest(req, res, status, performance.now() - t0);
  };
  // --log-requests only (never on the default path): what was answered is read back from the header block the
  // response wrote, as the cached path writes its headers as a flat array that getHeader() does not see.
  let requestSeq = 0;
  const logRequest = (req: IncomingMessage, res: ServerResponse, status: number, ms: number): void => {
    const head = (res as unknown as { _header?: string | null })._header ?? '';
    const given = rawHeader(req.rawHeaders, 'x-request-id');
    logger.info({
      reqId: given !== undefined && given.length <= 128 ? given : `${process.pid}-${++requestSeq}`,
      method: req.method,
      url: req.url,
      status,
      cache: /\r\nX-Cache: ([^\r]*)/i.exec(head)?.[1],
      bytes: Number(/\r\nContent-Length: (\d+)/i.exec(head)?.[1] ?? 0),
      client: req.socket.remoteAddress,
      ms,
    }, 'request');
  };

  const fail = (res: ServerResponse, route: Route, collection: string | undefined, t0: number, req: IncomingMessage, err: unknown): void => {
    const { error, internal } = toHttpError(err);
    if (internal) logger.error({ err, method: req.method, url: req.url }, 'internal error');
    sendError(res, error);
    finish(route, collection, error.status, t0, req, res);
  };
  const read = createRead(deps, finish, fail);

  return function handle(req, res) {
    const t0 = performance.now();
    deps.pressure.arrive(t0);
    metrics.inFlight++;
    const url = req.url ?? '/';
    const method = req.method ?? 'GET';
    let route: Route = 'other';
    /** The collection the URL named, once the route is one of a collection's (data, content, write, bulk). */
    let named: string | undefined;
    try {
      // HTTP/1.1 requires Host (RFC 9112 §3.2); Node's own check answers a bare 400, so the server makes it here.
      if (req.httpVersionMinor === 1 && req.httpVersionMajor === 1 && rawHeader(req.rawHeaders, 'host') === undefined) {
        res.shouldKeepAlive = false;
        throw new HttpError('FG_ERR_BAD_REQUEST', 'An HTTP/1.1 request needs a Host header.');
      }
      const q = url.indexOf('?');
      const path = q === -1 ? url : url.slice(0, q);
      if (path === '/data') {
        route = 'data';
        named = DEFAULT_COLLECTION;
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
        named = collection;
        if (key === '_bulk' && method === 'POST') {
          route = 'bulk';
          handleBulk(req, res, deps, collection).then((status) => finish(route, collection, status, t0, req, res), (err: unknown) => fail(res, route, collection, t0, req, err));
          return;
        }
        if (key === '_warm' && method === 'POST') {
          route = 'warm';
          handleWarm(req, res, deps, collection).then((status) => finish(route, collection, status, t0, req, res), (err: unknown) => fail(res, route, collection, t0, req, err));
          return;
        }
        if (key === '_purge' && method === 'POST') {
          route = 'write';
          handlePurge(req, res, deps, collection).then((status) => finish(route, collection, status, t0, req, res), (err: unknown) => fail(res, route, collection, t0, req, err));
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
        handleWrite(req, res, deps, collection, key).then((status) => finish(route, collection, status, t0, req, res), (err: unknown) => fail(res, route, collection, t0, req, err));
        return;
      }
      if (path === '/healthz') {
        route = 'healthz';
        allow(method, 'GET, HEAD');
        sendJson(res, 200, { status: 'ok' });
        finish(route, undefined, 200, t0, req, res);
        return;
      }
      if (path === '/readyz') {
        route = 'readyz';
        allow(method, 'GET, HEAD');
        // Which dependency fails is for anyone (load balancers, probes); why (host:port, driver errors) only
        // for the operator: the admin token. Read credentials are not enough, they live in a third party's templates.
        const detailed = deps.writeAuth?.check(req.headers.authorization) === true;
        readiness(deps.readiness, detailed).then(
          ({ ready, status, checks }) => {
            sendJson(res, ready ? 200 : 503, { status, checks });
            finish('readyz', undefined, ready ? 200 : 503, t0, req, res);
          },
          (err: unknown) => fail(res, 'readyz', undefined, t0, req, err),
        );
        return;
      }
      if (path === '/metrics') {
        route = 'metrics';
        allow(method, 'GET');
        // Behind the read credentials when they are set: metrics name collections and reveal traffic.
        if (deps.readAuth && !deps.readAuth.check(req.headers.authorization)) {
          throw new HttpError('FG_ERR_UNAUTHORIZED', undefined, { 'WWW-Authenticate': deps.readAuth.challenge });
        }
        metrics.scrape().then(
          (text) => {
            res.writeHead(200, { 'Content-Type': metrics.registry.contentType, 'Cache-Control': 'no-store' });
            res.end(text);
            finish('metrics', undefined, 200, t0, req, res);
          },
          (err: unknown) => fail(res, 'metrics', undefined, t0, req, err),
        );
        return;
      }
      if (path === '/dashboard' || path.startsWith('/dashboard/')) {
        route = 'dashboard';
        if (deps.dashboard === undefined) throw new HttpError('FG_ERR_ROUTE_NOT_FOUND', 'This server has no dashboard.');
        finish(route, undefined, deps.dashboard.handle(req, res, path), t0, req, res);
        return;
      }
      throw new HttpError('FG_ERR_ROUTE_NOT_FOUND', 'No such route. Reads: GET /data?user_id=<id>, GET /v1/content/<collection>/<key>.');
    } catch (err) {
      fail(res, route, named, t0, req, err);
    }
  };
}
