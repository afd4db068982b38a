// POST /v1/content/:collection/_warm: what `floodgate warm` sends (docs/operations.md, "Warming before a send").
// Guarded by the admin token. The body is JSON, one of:
//   {"keys": ["1", "2", …]}       warm these keys (1 to MAX_WARM_KEYS); {"keys": []} warms nothing and answers
//                                 the collection's state and this worker's memory budget (the CLI's first call);
//                                 add "count": true for the number of records the store holds in the collection
//   {"after": 0, "limit": 1000}   warm the next page of the whole collection after that store version (--all);
//                                 the answer's "next" is where the page after it starts, null after the last
// The answer says what was found and missing, what this worker's memory tier kept and accounts for it, the memory
// budget, whether Redis and the other workers and instances got it. A store that fails part-way answers 503 with
// what was warmed before and which keys the failed query held; the server keeps serving.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { editDistance } from '../common/edit-distance.ts';
import { keyProblem } from '../content/keys.ts';
import { WarmError, type WarmOutcome } from '../content/warm.ts';
import { HttpError, toHttpError } from './errors.ts';
import { sendJson } from './respond.ts';
import { authorize, readBody, type WriteDeps } from './writes.ts';

/** Keys one _warm request takes at most (the CLI sends 1,000 by default). */
export const MAX_WARM_KEYS = 10_000;
/** A _warm body is at most this large: MAX_WARM_KEYS keys of 256 bytes, JSON-escaped, fit. */
const WARM_BODY_LIMIT = 8 * 1024 * 1024;
const DEFAULT_PAGE = 1000;

const USAGE = 'Expected {"keys": ["a", "b"]} (at most 10000 keys; [] answers the state only) or {"after": 0, "limit": 1000} for the whole collection.';

export async function handleWarm(req: IncomingMessage, res: ServerResponse, deps: WriteDeps, collection: string): Promise<number> {
  authorize(req, deps);
  const service = deps.service;
  const source = service.source(collection);
  if (source.kind !== 'store') {
    req.resume();
    throw new HttpError('FG_ERR_METHOD_NOT_ALLOWED', `collection ${collection} is ${source.describe}: its content is not in the store, so there is nothing to warm from it (its reads fill the caches as they come).`, { Allow: 'GET, HEAD' });
  }
  const type = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
  if (type !== 'application/json') {
    req.resume();
    throw new HttpError('FG_ERR_UNSUPPORTED_MEDIA_TYPE', `A _warm body is JSON: Content-Type: application/json. ${USAGE}`);
  }
  const body = await readBody(req, WARM_BODY_LIMIT);
  let doc: unknown;
  try {
    doc = JSON.parse(body.toString('utf8'));
  } catch {
    throw new HttpError('FG_ERR_BAD_REQUEST', `The _warm body is not valid JSON. ${USAGE}`);
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw new HttpError('FG_ERR_BAD_REQUEST', USAGE);
  const { keys, after, limit, count } = doc as Record<string, unknown>;
  const memory = service.warmer.memory() ?? null;
  const base = { collection, worker: process.pid };

  if (keys !== undefined && after !== undefined) throw new HttpError('FG_ERR_BAD_REQUEST', `Give "keys" or "after", not both. ${USAGE}`);
  if (after !== undefined) {
    if (!Number.isSafeInteger(after) || (after as number) < 0) throw new HttpError('FG_ERR_BAD_REQUEST', `"after" is a store version: a whole number ≥ 0. ${USAGE}`);
    if (limit !== undefined && (!Number.isSafeInteger(limit) || (limit as number) < 1 || (limit as number) > MAX_WARM_KEYS)) throw new HttpError('FG_ERR_BAD_REQUEST', `"limit" is a whole number from 1 to ${MAX_WARM_KEYS}.`);
    if (after === 0) await knownCollection(deps, collection);
    const page = await warmOrFail(res, base, () => service.warmer.warmPage(collection, after as number, (limit as number | undefined) ?? DEFAULT_PAGE));
    if (page === undefined) return 503;
    sendJson(res, 200, { ...base, ...page, memory: service.warmer.memory() ?? null });
    return 200;
  }
  if (!Array.isArray(keys)) throw new HttpError('FG_ERR_BAD_REQUEST', USAGE);
  if (keys.length > MAX_WARM_KEYS) throw new HttpError('FG_ERR_BAD_REQUEST', `At most ${MAX_WARM_KEYS} keys per _warm (got ${keys.length}); send several batches.`);
  for (const [i, k] of keys.entries()) {
    const problem = typeof k === 'string' ? keyProblem(k) : 'the key is not a string';
    if (problem) throw new HttpError('FG_ERR_INVALID_KEY', `keys[${i}]: ${problem}; nothing was warmed.`);
  }
  if (keys.length === 0) {
    await knownCollection(deps, collection);
    const records = count === true ? await service.store.count(collection) : undefined;
    sendJson(res, 200, { ...base, memory, redis: service.l2 ? (service.l2.healthy ? 'up' : 'down') : 'off', ...(records === undefined ? {} : { records }) });
    return 200;
  }
  await knownCollection(deps, collection);
  const outcome = await warmOrFail(res, base, () => service.warmer.warm(collection, [...new Set(keys as string[])]));
  if (outcome === undefined) return 503;
  sendJson(res, 200, { ...base, ...outcome, memory: service.warmer.memory() ?? null });
  return 200;
}

/**
 * Runs a warm; a store failure part-way is answered here (503, with how far it got) and resolves undefined.
 * Other errors are thrown to the router.
 */
async function warmOrFail<T extends WarmOutcome>(res: ServerResponse, base: object, run: () => Promise<T>): Promise<T | undefined> {
  try {
    return await run();
  } catch (err) {
    if (!(err instanceof WarmError)) throw err;
    const { error } = toHttpError(err.cause);
    const before = err.done.found > 0 ? `; the ${err.done.found} records of this batch read before it were warmed` : '';
    const message = `${error.message} Warming stopped at keys ${JSON.stringify(err.failed.first)} to ${JSON.stringify(err.failed.last)} (${err.failed.keys} keys)${before}. The server keeps serving.`;
    // `reason`: the store's problem alone, for the CLI's own account of the run.
    sendJson(res, error.status, { ...base, error: { code: error.code, message }, reason: error.message, warmed: err.done, failed: err.failed }, error.headers);
    return undefined;
  }
}

/** Collections of the store found to hold records, asked once per worker (one index probe), not once per batch. */
const holding = new Set<string>();

/** 404 for a collection that neither the collections file names nor the store holds a record of. */
async function knownCollection(deps: WriteDeps, collection: string): Promise<void> {
  const service = deps.service;
  if (service.collection(collection) !== undefined || holding.has(collection)) return;
  if (await service.store.hasAny(collection)) {
    holding.add(collection);
    return;
  }
  const names = service.collectionNames;
  const near = names.filter((n) => editDistance(n.toLowerCase(), collection.toLowerCase()) <= 2);
  const hint = near.length > 0 ? ` Did you mean ${near.join(' or ')}?` : names.length > 0 ? ` The collections file names ${names.join(', ')}.` : '';
  throw new HttpError('FG_ERR_UNKNOWN_COLLECTION', `No collection ${JSON.stringify(collection)}: the collections file does not name it and the store holds no record of it.${hint}`);
}
