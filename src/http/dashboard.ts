// GET /dashboard: a live page served by floodgate itself. The page, its script and its stylesheet are files in
// src/http/dashboard/ read once at start; the script and stylesheet are named by a hash of their content and
// cached for a year (immutable), the page itself is revalidated. Nothing comes from elsewhere: the page's
// Content-Security-Policy allows only this origin, so it works offline.
//
// GET /dashboard/events is a Server-Sent Events stream of one frame a second (dashboard-frame.ts). Sampling
// runs only while at least one stream is open: the first client starts the timer, the last one to leave
// stops it, and the request path never sees any of it. The page closes its stream while the tab is hidden.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { MetricObjectWithValues, MetricValue } from 'prom-client';
import type { Credentials } from './auth.ts';
import { frameOf, readingOf, type Frame, type Reading } from './dashboard-frame.ts';
import { HttpError } from './errors.ts';
import { allow } from './url.ts';

/** Every worker's own metrics (one entry per worker; one in all outside a cluster). */
export type WorkerMetricsSource = () => Promise<{ pid: number; metrics: MetricObjectWithValues<MetricValue<string>>[] }[]>;

export interface DashboardOptions {
  readonly source: WorkerMetricsSource;
  /** The read credentials (as /metrics): undefined = open. */
  readonly auth: Credentials | undefined;
  /** Between frames, ms (default 1000). */
  readonly intervalMs?: number;
  /** Frames kept for a client that connects while others watch (default 300: five minutes). */
  readonly historyFrames?: number;
  readonly now?: () => number;
  readonly onError?: (err: unknown) => void;
}

export interface Dashboard {
  /** Answers a /dashboard… path; returns the status sent. */
  handle(req: IncomingMessage, res: ServerResponse, path: string): number;
  /** Streams open right now. */
  readonly clients: number;
  /** Whether the sampler is running (only while a stream is open). */
  readonly sampling: boolean;
  /** Ends every stream and stops sampling (before a drain: an open stream would hold the drain to its deadline). */
  close(): void;
}

interface Asset {
  readonly body: Buffer;
  readonly type: string;
  readonly etag: string;
}

const DIR = new URL('./dashboard/', import.meta.url);
const YEAR_S = 365 * 24 * 3600;
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

function asset(name: string, type: string): Asset & { hash: string } {
  const body = readFileSync(new URL(name, DIR));
  const hash = createHash('sha256').update(body).digest('hex').slice(0, 16);
  return { body, type, etag: `"${hash}"`, hash };
}

/** The page and its assets, read once per process. */
function loadAssets(): { page: Asset; files: Map<string, Asset> } {
  const js = asset('dashboard.js', 'text/javascript; charset=utf-8');
  const css = asset('dashboard.css', 'text/css; charset=utf-8');
  const jsPath = `/dashboard/dashboard.${js.hash}.js`;
  const cssPath = `/dashboard/dashboard.${css.hash}.css`;
  const html = readFileSync(new URL('index.html', DIR), 'utf8').replaceAll('{{js}}', jsPath).replaceAll('{{css}}', cssPath);
  const body = Buffer.from(html);
  const page = { body, type: 'text/html; charset=utf-8', etag: `"${createHash('sha256').update(body).digest('hex').slice(0, 16)}"` };
  return { page, files: new Map([[jsPath, js], [cssPath, css]]) };
}

export function createDashboard(opts: DashboardOptions): Dashboard {
  const { page, files } = loadAssets();
  const intervalMs = opts.intervalMs ?? 1000;
  const keep = opts.historyFrames ?? 300;
  const now = opts.now ?? Date.now;
  const streams = new Set<ServerResponse>();
  const history: string[] = [];
  let timer: NodeJS.Timeout | undefined;
  let busy = false;
  let previous = new Map<number, Reading>();
  let previousAt = 0;

  const send = (res: ServerResponse, status: number, a: Asset, cache: string, req: IncomingMessage): number => {
    if (req.headers['if-none-match'] === a.etag) {
      res.writeHead(304, { ETag: a.etag, 'Cache-Control': cache });
      res.end();
      return 304;
    }
    res.writeHead(status, { 'Content-Type': a.type, 'Content-Length': a.body.length, 'Cache-Control': cache, ETag: a.etag, 'Content-Security-Policy': CSP, 'X-Content-Type-Options': 'nosniff' });
    res.end(req.method === 'HEAD' ? undefined : a.body);
    return status;
  };

  const tick = async (): Promise<void> => {
    if (busy) return;
    busy = true;
    try {
      const workers = await opts.source();
      const t = now();
      const readings = workers.map((w) => readingOf(w.pid, w.metrics));
      const frame: Frame = frameOf(t, previousAt > 0 ? (t - previousAt) / 1000 : 0, readings, previous);
      const first = previousAt === 0;
      previous = new Map(readings.map((r) => [r.pid, r]));
      previousAt = t;
      if (first || streams.size === 0) return; // the first reading only sets the baseline for rates
      const line = `data: ${JSON.stringify(frame)}\n\n`;
      history.push(line);
      if (history.length > keep) history.shift();
      for (const s of streams) s.write(line);
    } catch (err) {
      opts.onError?.(err);
    } finally {
      busy = false;
    }
  };

  const start = (): void => {
    if (timer) return;
    previous = new Map();
    previousAt = 0;
    void tick();
    timer = setInterval(() => void tick(), intervalMs);
    timer.unref();
  };
  const stop = (): void => {
    clearInterval(timer);
    timer = undefined;
    history.length = 0;
  };

  const events = (req: IncomingMessage, res: ServerResponse): number => {
    res.writeHead(200, {
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-store',
      'X-Accel-Buffering': 'no', // nginx: pass each frame on as it comes
      'X-Content-Type-Options': 'nosniff',
    });
    res.write(`retry: 2000\n\n${history.join('')}`);
    streams.add(res);
    start();
    const gone = (): void => {
      if (!streams.delete(res)) return;
      if (streams.size === 0) stop();
    };
    req.once('close', gone);
    res.once('close', gone);
    return 200;
  };

  return {
    handle(req, res, path) {
      const method = req.method ?? 'GET';
      allow(method, 'GET, HEAD');
      if (opts.auth && !opts.auth.check(req.headers.authorization)) {
        throw new HttpError('FG_ERR_UNAUTHORIZED', undefined, { 'WWW-Authenticate': opts.auth.challenge });
      }
      if (path === '/dashboard' || path === '/dashboard/') return send(res, 200, page, 'no-cache', req);
      if (path === '/dashboard/events') return events(req, res);
      const file = files.get(path);
      if (file) return send(res, 200, file, `public, max-age=${YEAR_S}, immutable`, req);
      throw new HttpError('FG_ERR_ROUTE_NOT_FOUND', 'No such dashboard file: the page is GET /dashboard.');
    },
    get clients() {
      return streams.size;
    },
    get sampling() {
      return timer !== undefined;
    },
    close() {
      for (const s of streams) s.end();
      streams.clear();
      stop();
    },
  };
}
