// The bulk line format, shared by POST /v1/content/:collection/_bulk and `floodgate import`:
// one JSON object a line: {"key":"42","body":"text"} or {"key":"42","json":{…}} or {"key":"42","base64":"…"},
// with optional "contentType" and (importer only) "collection".
import { collectionProblem, keyProblem } from './keys.ts';
import { mediaTypeProblem } from './media-type.ts';
import { DEFAULT_CONTENT_TYPE, type ContentWrite } from './record.ts';

/** Records per store transaction when writing in bulk (_bulk, import, seeding): short transactions, few round trips. */
export const BULK_BATCH = 5000;

export class LineError extends Error {
  override readonly name = 'LineError';
}

const FIELDS = new Set(['key', 'body', 'json', 'base64', 'contentType', 'collection']);

/** Parses one NDJSON line into a write; throws LineError saying what is wrong. */
export function parseLine(line: string, defaultCollection: string, allowCollection: boolean): ContentWrite {
  let obj: unknown;
  try {
    obj = JSON.parse(line);
  } catch (err) {
    throw new LineError(`not valid JSON: ${(err as Error).message}`);
  }
  if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) throw new LineError('expected a JSON object');
  const o = obj as Record<string, unknown>;
  for (const k of Object.keys(o)) {
    if (!FIELDS.has(k) || (k === 'collection' && !allowCollection)) throw new LineError(`unknown field "${k}"`);
  }
  return toWrite(o, defaultCollection);
}

/** Builds a write from a record of fields (NDJSON object or CSV row); throws LineError. */
export function toWrite(o: Record<string, unknown>, defaultCollection: string): ContentWrite {
  // A number key must be a safe integer: JSON.parse turns 12345678901234567890 into 12345678901234567000, so
  // ids past 2^53 would collide. The key is not taken from the raw text instead: 100, 1e2 and 100.0 are one
  // JSON number, and whoever produced the line may already have rounded it; a quoted string is exact.
  if (typeof o.key === 'number' && !Number.isSafeInteger(o.key)) {
    throw new LineError(`"key" is a number that is not a whole number within ±2^53 (${o.key} as read); write the key as a string: "key":"…"`);
  }
  const key = typeof o.key === 'number' ? String(o.key) : o.key;
  if (typeof key !== 'string') throw new LineError('"key" is required (a string or a number)');
  const kp = keyProblem(key);
  if (kp) throw new LineError(kp);
  const collection = o.collection === undefined || o.collection === '' ? defaultCollection : o.collection;
  if (typeof collection !== 'string') throw new LineError('"collection" must be a string');
  const cp = collectionProblem(collection);
  if (cp) throw new LineError(cp);
  const given = ['body', 'json', 'base64'].filter((f) => o[f] !== undefined);
  if (given.length !== 1) throw new LineError('exactly one of "body", "json" or "base64" is required');
  let body: Buffer;
  let contentType: string;
  if (o.body !== undefined) {
    if (typeof o.body !== 'string') throw new LineError('"body" must be a string (use "json" for JSON values)');
    body = Buffer.from(o.body);
    contentType = DEFAULT_CONTENT_TYPE;
  } else if (o.json !== undefined) {
    body = Buffer.from(JSON.stringify(o.json));
    contentType = 'application/json';
  } else {
    if (typeof o.base64 !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(o.base64)) throw new LineError('"base64" must be a base64 string');
    body = Buffer.from(o.base64, 'base64');
    contentType = 'application/octet-stream';
  }
  if (o.contentType !== undefined) {
    if (typeof o.contentType !== 'string') throw new LineError('"contentType" must be a string');
    const problem = mediaTypeProblem(o.contentType);
    if (problem) throw new LineError(`"contentType" is not a valid media type: ${problem}`);
    contentType = o.contentType;
  }
  return { collection, key, body, contentType };
}
