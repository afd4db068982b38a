// Every PostgreSQL store call has one deadline covering the wait for a pooled connection and the run.
// postgres.js keeps its own unbounded queue in front of a fixed number of connections; this bounds the time a
// call may spend there. At the deadline the call rejects with StoreTimeoutError and the query is withdrawn:
// - still queued for a connection: removed from the queue (nothing was sent);
// - running on a connection: a CancelRequest is sent (and statement_timeout, set to the same deadline on every
//   pooled connection, stops it server-side even if the cancel is lost);
// - pipelined behind another query on its connection: left to run (a point query), bounded by statement_timeout;
//   cancelling it would risk cancelling whichever query is running when the request lands.
// A CancelRequest travels on its own connection and may land after the statement it meant has ended (say,
// stopped by statement_timeout a moment earlier), cancelling the next statement on that connection. Such a
// stray cancel (57014 before this call's own deadline) is retried once, as a lost connection is: the statement
// was not this call's to lose.
import { StoreTimeoutError, StoreUnavailableError } from './errors.ts';
import { mapPgError, pgErrorCode } from './pg-errors.ts';

/** What postgres.js's PendingQuery offers (plus the internal state this file reads: pinned postgres 3.4.x). */
export interface CancellableQuery<T> extends PromiseLike<T> {
  cancel(): unknown;
}
/** postgres.js's .describe() and .raw() return the same query object, typed as a plain Promise. */
export function cancellable<T>(query: PromiseLike<unknown>): CancellableQuery<T> {
  return query as unknown as CancellableQuery<T>;
}

interface QueryInternals {
  /** Set when the query is written to a connection. */
  state?: unknown;
  /** True while it is the query the connection is executing. */
  active?: boolean;
  /** postgres.js's cancel function; unlike .cancel() it hands back the promise, so its failure can be caught. */
  canceller?: ((query: unknown) => Promise<void>) | null;
}

export class Deadline {
  readonly ms: number;
  /** The last connection-level failure, until a call succeeds: a timeout meanwhile is reported as unavailability. */
  #down: StoreUnavailableError | undefined;

  constructor(ms: number) {
    this.ms = ms;
  }

  /**
   * Runs the query `make` builds, bounded by the deadline. A query lost with its connection (reset, server-side
   * termination) is sent once more on a fresh one if time remains: every store statement is safe to repeat
   * (reads; upserts and deletes that end in the same state).
   */
  run<T>(what: string, make: () => CancellableQuery<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      let settled = false;
      let retried = false;
      let current: CancellableQuery<T>;
      const timer = setTimeout(() => {
        settled = true;
        withdraw(current);
        reject(this.#timeoutError(what));
      }, this.ms);
      const attempt = (): void => {
        current = make();
        current.then(
          (value) => {
            if (settled) return;
            settled = true;
            clearTimeout(timer);
            this.#down = undefined;
            resolve(value);
          },
          (err: unknown) => {
            if (settled) return;
            if (!retried && (isConnectionLoss(err) || isStrayCancel(err))) {
              retried = true;
              attempt();
              return;
            }
            settled = true;
            clearTimeout(timer);
            const mapped = mapPgError(err, what);
            if (mapped instanceof StoreUnavailableError) this.#down = mapped;
            reject(mapped);
          },
        );
      };
      attempt();
    });
  }

  #timeoutError(what: string): Error {
    if (this.#down) {
      return new StoreUnavailableError(`${what} found no working connection within ${this.ms} ms; last failure: ${this.#down.message}`, {
        cause: this.#down,
      });
    }
    return new StoreTimeoutError(`${what} did not finish within its ${this.ms} ms deadline (waiting for a pooled connection included)`);
  }
}

function withdraw(query: CancellableQuery<unknown>): void {
  const q = query as unknown as QueryInternals;
  if (q.state === undefined) {
    query.cancel(); // still in the pool's queue: removed at once, no network involved
  } else if (q.active === true && typeof q.canceller === 'function') {
    const cancel = q.canceller;
    q.canceller = null;
    cancel(query).catch(() => undefined); // best effort; statement_timeout is the backstop
  }
}

/**
 * query_canceled while this call's deadline has not passed (the caller checks): a cancel meant for an earlier
 * statement on the same connection, or an operator's pg_cancel_backend.
 */
function isStrayCancel(err: unknown): boolean {
  return pgErrorCode(err) === '57014';
}

/** The connection went away under the query (not: the server refuses connections). */
const LOSS_CODES = new Set(['ECONNRESET', 'EPIPE', 'CONNECTION_CLOSED', '57P01']);
function isConnectionLoss(err: unknown): boolean {
  const code = pgErrorCode(err);
  return code !== undefined && LOSS_CODES.has(code);
}
