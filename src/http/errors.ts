// One error registry: every error the server answers with has a code, a status and a default message here.
// Clients and tests match on `code`. test/docs.test.ts keeps the README's list in step with this table (npm run docs).
export const ERRORS = {
  FG_ERR_BAD_REQUEST: { status: 400, message: 'The request is malformed.' },
  FG_ERR_INVALID_KEY: { status: 400, message: 'The key is invalid: 1 to 256 bytes of UTF-8, no control characters.' },
  FG_ERR_INVALID_COLLECTION: { status: 400, message: 'The collection name is invalid.' },
  FG_ERR_INVALID_CONTENT_TYPE: { status: 400, message: 'The Content-Type is not a valid media type (RFC 9110: type/subtype; parameters, Latin-1, no control characters).' },
  FG_ERR_UNAUTHORIZED: { status: 401, message: 'Credentials are missing or wrong.' },
  FG_ERR_WRITES_DISABLED: { status: 403, message: 'Writes are disabled: set FLOODGATE_ADMIN_TOKEN to enable the write API.' },
  FG_ERR_NOT_FOUND: { status: 404, message: 'No content for this key.' },
  FG_ERR_ROUTE_NOT_FOUND: { status: 404, message: 'No such route.' },
  FG_ERR_UNKNOWN_COLLECTION: { status: 404, message: 'No such collection: the collections file does not name it and the store holds no record of it.' },
  FG_ERR_METHOD_NOT_ALLOWED: { status: 405, message: 'This method is not allowed on this route.' },
  FG_ERR_READ_ONLY_COLLECTION: { status: 405, message: 'This collection is read-only (served from SQL or an origin).' },
  FG_ERR_REQUEST_TIMEOUT: { status: 408, message: 'The request headers or body did not arrive in time (--headers-timeout, --request-timeout).' },
  FG_ERR_BODY_TOO_LARGE: { status: 413, message: 'The request body is too large.' },
  FG_ERR_UNSUPPORTED_MEDIA_TYPE: { status: 415, message: 'Unsupported Content-Type.' },
  FG_ERR_HEADERS_TOO_LARGE: { status: 431, message: 'The request headers are larger than the server accepts (--max-header-size).' },
  FG_ERR_INTERNAL: { status: 500, message: 'Internal error.' },
  FG_ERR_OVERLOADED: { status: 503, message: 'The server is overloaded; retry later.' },
  FG_ERR_STORE_UNAVAILABLE: { status: 503, message: 'The store is unreachable; retry later.' },
  FG_ERR_STORE_TIMEOUT: { status: 503, message: 'The store did not answer in time; retry later.' },
  FG_ERR_ORIGIN_UNAVAILABLE: { status: 503, message: 'The origin failed and no stale content or fallback exists; retry later.' },
  FG_ERR_ORIGIN_TIMEOUT: { status: 503, message: 'The origin did not answer in time and no stale content or fallback exists; retry later.' },
  FG_ERR_DEADLINE: { status: 503, message: 'The content could not be produced within the deadline.' },
  FG_ERR_METRICS_UNAVAILABLE: { status: 503, message: 'The metrics of every worker could not be gathered; retry.' },
} as const;

export type ErrorCode = keyof typeof ERRORS;

/** An error the edge answers as `{"error":{"code","message"}}` with its registered status. */
export class HttpError extends Error {
  override readonly name = 'HttpError';
  readonly code: ErrorCode;
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  constructor(code: ErrorCode, message?: string, headers: Record<string, string> = {}) {
    super(message ?? ERRORS[code].message);
    this.code = code;
    this.status = ERRORS[code].status;
    this.headers = headers;
  }
}

export function errorBody(code: ErrorCode, message: string = ERRORS[code].message): string {
  return JSON.stringify({ error: { code, message } });
}

/** Seconds a client should wait before retrying a 503. */
export const RETRY_AFTER_S = '1';

/**
 * Turns anything thrown into a typed answer. Known domain errors get their code; anything unknown becomes
 * FG_ERR_INTERNAL, and its cause is for the log, never for the client.
 */
export function toHttpError(err: unknown): { error: HttpError; internal: boolean } {
  if (err instanceof HttpError) return { error: err, internal: false };
  const code = (err as { code?: unknown } | null)?.code;
  const name = (err as { name?: unknown } | null)?.name;
  if (code === 'FG_STORE_UNAVAILABLE') return { error: new HttpError('FG_ERR_STORE_UNAVAILABLE', undefined, { 'Retry-After': RETRY_AFTER_S }), internal: false };
  if (code === 'FG_STORE_TIMEOUT') return { error: new HttpError('FG_ERR_STORE_TIMEOUT', undefined, { 'Retry-After': RETRY_AFTER_S }), internal: false };
  if (code === 'FG_ORIGIN_UNAVAILABLE') return { error: new HttpError('FG_ERR_ORIGIN_UNAVAILABLE', `${(err as Error).message}; no stale content or fallback exists, retry later.`, { 'Retry-After': RETRY_AFTER_S }), internal: false };
  if (code === 'FG_ORIGIN_TIMEOUT') return { error: new HttpError('FG_ERR_ORIGIN_TIMEOUT', `${(err as Error).message}; no stale content or fallback exists, retry later.`, { 'Retry-After': RETRY_AFTER_S }), internal: false };
  if (name === 'ReadOnlyCollectionError') return { error: new HttpError('FG_ERR_READ_ONLY_COLLECTION', (err as Error).message), internal: false };
  return { error: new HttpError('FG_ERR_INTERNAL'), internal: true };
}
