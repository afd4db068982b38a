// Writing JSON answers: the shared content type, sendJson and sendError, used by every route (routes.ts,
// read.ts, degrade.ts, writes.ts). Content itself is written by read.ts, straight from the cached record.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { errorBody, type HttpError } from './errors.ts';
import { FastResponse, type Prebuilt } from './fast-path.ts';

export const JSON_TYPE = 'application/json; charset=utf-8';

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
  res.writeHead(error.status, { 'Content-Type': JSON_TYPE, 'Content-Length': Buffer.byteLength(text), 'Cache-Control': 'no-store', ...error.headers, ...closeIfBodyUnread(res.req) });
  res.end(text);
}

/** Writes an answer built once (a refusal): on the fast path as one buffer, else through writeHead and end. */
export function sendPrebuilt(req: IncomingMessage, res: ServerResponse, answer: Prebuilt): void {
  if (res instanceof FastResponse) {
    res.endPrebuilt(answer);
    return;
  }
  res.writeHead(answer.status, answer.headers);
  res.end(req.method === 'HEAD' ? undefined : answer.body);
}

const CLOSE = { Connection: 'close' } as const;

/**
 * `Connection: close` while the request's body is still arriving and will not be read (a refused write, a body
 * sent to a read route): Node then ends the connection once the answer is flushed, instead of reading and
 * discarding the rest, which let an unauthenticated client stream any amount into a 401.
 */
export function closeIfBodyUnread(req: IncomingMessage): typeof CLOSE | undefined {
  return bodyUnread(req) ? CLOSE : undefined;
}

/**
 * True while the request has a body too large to drain (a Content-Length above DRAIN_BYTES, or a
 * Transfer-Encoding) not all of which has arrived. req.complete alone is not that: Node runs the request handler before it marks even a request without
 * a body complete, so every answer given synchronously (a fresh hit) would close its keep-alive connection.
 * Reads rawHeaders, not req.headers, which Node builds on first access.
 */
export function bodyUnread(req: IncomingMessage): boolean {
  if (req.complete) return false;
  const raw = req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    if (name.length === 17 && name.toLowerCase() === 'transfer-encoding') return true;
    if (name.length === 14 && name.toLowerCase() === 'content-length' && Number(raw[i + 1]) > DRAIN_BYTES) return true;
  }
  return false;
}

/**
 * A declared body up to this size is read and discarded after the answer (Node does so for an unread body), so
 * the keep-alive connection and any request pipelined behind it survive; a larger or chunked one is not worth
 * reading and ends the connection.
 */
const DRAIN_BYTES = 64 * 1024;
