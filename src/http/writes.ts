// The write API: PUT/DELETE /v1/content/:collection/:key, POST /v1/content/:collection/_bulk (NDJSON), and
// purges of read-only collections (DELETE of an origin collection's key, POST /v1/content/:collection/_purge).
// Guarded by the admin bearer token; bodies are bounded; a bad bulk line is reported, the rest imported; a
// bulk that fails part-way answers how many records its committed batches hold.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { BulkError, loadNdjson } from '../content/bulk.ts';
import { keyProblem } from '../content/keys.ts';
import { mediaTypeProblem } from '../content/media-type.ts';
import { DEFAULT_CONTENT_TYPE } from '../content/record.ts';
import type { ContentService } from '../content/service.ts';
import type { Credentials } from './auth.ts';
import { HttpError, toHttpError } from './errors.ts';
import { sendJson } from './respond.ts';

export interface WriteDeps {
  service: ContentService;
  /** The admin token's check; undefined = writes are disabled (403). */
  writeAuth: Credentials | undefined;
  limits: WriteLimits;
  /** Where a bulk that fails part-way logs its cause. */
  logger: Logger;
}

export interface WriteLimits {
  /** Largest PUT body, bytes. */
  bodyLimit: number;
  /** Largest _bulk body, bytes. */
  bulkLimit: number;
}

/** At most this many line errors are listed in a bulk answer; the count is always exact. */
const MAX_LISTED_ERRORS = 100;

/** Refuses (403, 401) a request without the admin token: the write routes, _purge and _warm. */
export function authorize(req: IncomingMessage, deps: WriteDeps): void {
  if (!deps.writeAuth) throw new HttpError('FG_ERR_WRITES_DISABLED');
  if (!deps.writeAuth.check(req.headers.authorization)) {
    throw new HttpError('FG_ERR_UNAUTHORIZED', 'Write routes need "Authorization: Bearer <FLOODGATE_ADMIN_TOKEN>".', { 'WWW-Authenticate': deps.writeAuth.challenge });
  }
}

/** Reads the whole body, refusing (413) past `limit` bytes without buffering the excess. */
export async function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  refuseDeclaredOverLimit(req, limit);
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

/** 413 at once when Content-Length already says the body is over `limit`. */
function refuseDeclaredOverLimit(req: IncomingMessage, limit: number): void {
  const declared = Number(req.headers['content-length']);
  if (declared > limit) {
    req.resume();
    throw new HttpError('FG_ERR_BODY_TOO_LARGE', `The body is ${declared} bytes; the limit is ${limit}.`, { Connection: 'close' });
  }
}

export async function handleWrite(req: IncomingMessage, res: ServerResponse, deps: WriteDeps, collection: string, key: string): Promise<number> {
  authorize(req, deps);
  if (req.method === 'PUT') {
    const given = req.headers['content-type'];
    // curl --data sends this type unasked; stored, Connected Content would get a form type back. Say so.
    if (given !== undefined && /^application\/x-www-form-urlencoded\b/i.test(given)) {
      req.resume();
      throw new HttpError('FG_ERR_UNSUPPORTED_MEDIA_TYPE', 'application/x-www-form-urlencoded is what curl --data sends when no type is given; send the content\'s own type (-H \'Content-Type: application/json\'), or none for the collection\'s.');
    }
    // No Content-Type: the collection's (text/plain; charset=utf-8 unless the collections file says otherwise).
    const contentType = given ?? deps.service.collection(collection)?.contentType ?? DEFAULT_CONTENT_TYPE;
    const problem = mediaTypeProblem(contentType);
    if (problem) throw new HttpError('FG_ERR_INVALID_CONTENT_TYPE', `The Content-Type is not a valid media type: ${problem}.`);
    const body = await readBody(req, deps.limits.bodyLimit);
    const existed = (await deps.service.store.get(collection, key)) !== undefined;
    const record = await deps.service.put({ collection, key, body, contentType });
    const status = existed ? 200 : 201;
    sendJson(res, status, { collection, key, version: record.version, bytes: body.length, contentType });
    return status;
  }
  // DELETE (the router allowed nothing else). On an origin collection: a purge (the origin is not asked).
  if (deps.service.source(collection).onDelete === 'purge') {
    await deps.service.purge(collection, [key]);
    sendJson(res, 200, { collection, key, purged: true });
    return 200;
  }
  const change = await deps.service.delete(collection, key);
  if (!change) throw new HttpError('FG_ERR_NOT_FOUND', `No content for key ${JSON.stringify(key)} in collection ${collection}.`);
  sendJson(res, 200, { collection, key, deleted: true, version: change.version });
  return 200;
}

export async function handleBulk(req: IncomingMessage, res: ServerResponse, deps: WriteDeps, collection: string): Promise<number> {
  authorize(req, deps);
  refuseDeclaredOverLimit(req, deps.limits.bulkLimit);
  const errors: { line: number; message: string }[] = [];
  let counts: { imported: number; failed: number };
  try {
    // Streamed: parsed and written batch by batch as the body arrives, yielding between batches (bulk.ts).
    counts = await loadNdjson(limited(req, deps.limits.bulkLimit), {
      collection,
      allowCollection: false,
      write: async (batch) => {
        await deps.service.putMany(batch);
      },
      onBadLine: (line, message) => {
        if (errors.length < MAX_LISTED_ERRORS) errors.push({ line, message });
      },
    });
  } catch (err) {
    if (!(err instanceof BulkError)) throw err;
    // Earlier batches are committed (each is its own transaction): the answer says how many, whatever failed.
    const { error, internal } = toHttpError(err.cause);
    if (internal) deps.logger.error({ err: err.cause, collection, imported: err.imported }, 'bulk import failed');
    const message = err.imported > 0 ? `${error.message} ${err.imported} records were committed before this; the lines after them were not imported.` : error.message;
    sendJson(res, error.status, { error: { code: error.code, message }, imported: err.imported, failed: err.failed, errors }, error.headers);
    return error.status;
  }
  const { imported, failed } = counts;
  if (imported === 0 && failed > 0) {
    sendJson(res, 400, { error: { code: 'FG_ERR_BAD_REQUEST', message: `No line could be imported (${failed} bad).` }, imported, failed, errors });
    return 400;
  }
  sendJson(res, 200, { imported, failed, errors });
  return 200;
}

/** Keys one _purge takes at most. */
export const MAX_PURGE_KEYS = 10_000;

/**
 * POST /v1/content/:collection/_purge with {"keys": ["a", "b"]}: drops the keys of a read-only collection (an
 * origin or a SQL query) from memory and Redis on every instance. The store's own collections are kept right by
 * their writes, so they refuse it (405).
 */
export async function handlePurge(req: IncomingMessage, res: ServerResponse, deps: WriteDeps, collection: string): Promise<number> {
  authorize(req, deps);
  const source = deps.service.source(collection);
  if (source.kind === 'store') throw new HttpError('FG_ERR_METHOD_NOT_ALLOWED', `collection ${collection} is kept by its writes; _purge is for origin and SQL collections.`, { Allow: 'POST' });
  const type = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
  if (type !== 'application/json') throw new HttpError('FG_ERR_UNSUPPORTED_MEDIA_TYPE', 'A _purge body is JSON: Content-Type: application/json, {"keys": ["a", "b"]}.');
  const body = await readBody(req, deps.limits.bodyLimit);
  let doc: unknown;
  try {
    doc = JSON.parse(body.toString('utf8'));
  } catch {
    throw new HttpError('FG_ERR_BAD_REQUEST', 'The _purge body is not valid JSON; expected {"keys": ["a", "b"]}.');
  }
  const keys = (doc as { keys?: unknown } | null)?.keys;
  if (!Array.isArray(keys) || keys.length === 0) throw new HttpError('FG_ERR_BAD_REQUEST', 'Expected {"keys": ["a", "b"]} with at least one key.');
  if (keys.length > MAX_PURGE_KEYS) throw new HttpError('FG_ERR_BAD_REQUEST', `At most ${MAX_PURGE_KEYS} keys per _purge (got ${keys.length}).`);
  for (const [i, k] of keys.entries()) {
    const problem = typeof k === 'string' ? keyProblem(k) : 'the key is not a string';
    if (problem) throw new HttpError('FG_ERR_INVALID_KEY', `keys[${i}]: ${problem}; nothing was purged.`);
  }
  const purged = await deps.service.purge(collection, [...new Set(keys as string[])]);
  sendJson(res, 200, { collection, purged });
  return 200;
}

/** The request's body chunks, failing (413) once more than `limit` bytes have arrived. */
async function* limited(req: IncomingMessage, limit: number): AsyncGenerator<Buffer> {
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) {
      req.resume();
      throw new HttpError('FG_ERR_BODY_TOO_LARGE', `The body is over the limit of ${limit} bytes.`, { Connection: 'close' });
    }
    yield chunk;
  }
}
