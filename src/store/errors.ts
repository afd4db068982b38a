// The store's typed failures. Callers match on `code`, never on message text. The HTTP edge answers the first
// two with 503 + Retry-After (the store is briefly unable to serve; the caller may retry or serve stale).

/** The database cannot be reached (refused, dropped, shutting down, file unopenable). */
export class StoreUnavailableError extends Error {
  readonly code = 'FG_STORE_UNAVAILABLE';
  override readonly name = 'StoreUnavailableError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** A store call did not finish within its deadline (waiting for a pooled connection plus running). */
export class StoreTimeoutError extends Error {
  readonly code = 'FG_STORE_TIMEOUT';
  override readonly name = 'StoreTimeoutError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** A query given to the store (a collection over an existing table) is not usable; the message names why. */
export class StoreQueryError extends Error {
  readonly code = 'FG_STORE_QUERY';
  override readonly name = 'StoreQueryError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

export type StoreErrorCode = StoreUnavailableError['code'] | StoreTimeoutError['code'] | StoreQueryError['code'];
