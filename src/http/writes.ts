// The write API: PUT/DELETE /v1/content/:collection/:key and POST /v1/content/:collection/_bulk (NDJSON).
// Guarded by the admin bearer token; bodies are bounded; a bad bulk line is reported, the rest imported.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { BULK_BATCH, LineError, parseLine } from '../content/ndjson.ts';
import type { ContentWrite } from '../content/record.ts';
import type { ContentService } from '../content/service.ts';
import type { Credentials } from './auth.ts';
import { HttpError } from './errors.ts';
import { sendJson } from './respond.ts';

export interface WriteDeps {
  service: ContentService;
  /** The admin token's check; undefined = writes are disabled (403). */
  writeAuth: Credentials | undefined;
  limits: WriteLimits;
}

export interface WriteLimits {
  /** Largest PUT body, bytes. */
  bodyLimit: number;
  /** Largest _bulk body, bytes. */
  bulkLimit: number;
}

/** At most this many line errors are listed in a bulk answer; the count is always exact. */
const MAX_LISTED_ERRORS = 100;

function authorize(req: IncomingMessage, deps: WriteDeps): void {
  if (!deps.writeAuth) throw new HttpError('FG_ERR_WRITES_DISABLED');
  if (!deps.writeAuth.check(req.headers.authorization)) {
    throw new HttpError('FG_ERR_UNAUTHORIZED', 'Write routes need "Authorization: Bearer <FLOODGATE_ADMIN_TOKEN>".', { 'WWW-Authenticate': deps.writeAuth.challenge });
  }
}

/** Reads the whole body, refusing (413) past `limit` bytes without buffering the excess. */
export async function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length']);
  if (declared > limit) {
    req.resume();
    throw new HttpError('FG_ERR_BODY_TOO_LARGE', `The body is ${declared} bytes; the limit is ${limit}.`, { Connection: 'close' });
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) {
      req.resume();
      throw new HttpError('FG_ERR_BODY_TOO_LARGE', `The body is over the limit of ${limit} bytes.`, { Connection: 'close' });
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, size);
}

export async function handleWrite(req: IncomingMessage, res: ServerResponse, deps: WriteDeps, collection: string, key: string): Promise<number> {
  authorize(req, deps);
  if (req.method === 'PUT') {
    const body = await readBody(req, deps.limits.bodyLimit);
    const contentType = req.headers['content-type'] ?? 'application/octet-stream';
    const record = await deps.service.put({ collection, key, body, contentType });
    sendJson(res, 200, { collection, key, version: record.version, bytes: body.length, contentType });
    return 200;
  }
  // DELETE (the router allowed nothing else)
  const change = await deps.service.delete(collection, key);
  if (!change) throw new HttpError('FG_ERR_NOT_FOUND', `No content for key ${JSON.stringify(key)} in collection ${collection}.`);
  sendJson(res, 200, { collection, key, deleted: true, version: change.version });
  return 200;
}

export async function handleBulk(req: IncomingMessage, res: ServerResponse, deps: WriteDeps, collection: string): Promise<number> {
  authorize(req, deps);
  const body = await readBody(req, deps.limits.bulkLimit);
  const errors: { line: number; message: string }[] = [];
  let failed = 0;
  let imported = 0;
  let batch: ContentWrite[] = [];
  const flush = async (): Promise<void> => {
    if (batch.length === 0) return;
    await deps.service.putMany(batch);
    imported += batch.length;
    batch = [];
  };
  const text = body.toString('utf8');
  let lineNo = 0;
  for (const line of text.split('\n')) {
    lineNo++;
    if (line.trim() === '') continue;
    try {
      batch.push(parseLine(line, collection, false));
    } catch (err) {
      if (!(err instanceof LineError)) throw err;
      failed++;
      if (errors.length < MAX_LISTED_ERRORS) errors.push({ line: lineNo, message: err.message });
      continue;
    }
    if (batch.length >= BULK_BATCH) await flush();
  }
  await flush();
  if (imported === 0 && failed > 0) {
    sendJson(res, 400, { error: { code: 'FG_ERR_BAD_REQUEST', message: `No line could be imported (${failed} bad).` }, imported, failed, errors });
    return 400;
  }
  sendJson(res, 200, { imported, failed, errors });
  return 200;
}
