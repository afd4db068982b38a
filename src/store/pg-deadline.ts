// Every PostgreSQL store call has one deadline covering the wait for a pooled connection and the run.
// postgres.js keeps its own unbounded queue in front of a fixed number of connections; this bounds the time a
// call may spend there. At the deadline the call rejects with StoreTimeoutError and the query is withdrawn as
// far as postgres.js allows (pinned postgres 3.4.9):
// - running on a connection: a CancelRequest is sent (and statement_timeout, set to the same deadline on every
//   pooled connection, stops it server-side even if the cancel is lost);
// - not yet sent (in the pool's queue, or the first query of a connection that is connecting or backing off
//   after failed attempts, for up to 20 s): left where it is. postgres.js's cancel() of the latter leaves that
//   connection stranded in its `connecting` queue for good (it never goes back to open), so a reconnect later
//   still sends it;
// - pipelined behind another query on its connection, or sent into a socket that delivers it later: left to run;
//   cancelling it would risk cancelling whichever query is running when the request lands.
// So a query can reach PostgreSQL after its caller was answered. Reads then do harmless work. Writes carry their
// deadline in PostgreSQL's own clock (pg-clock.ts) and the server refuses them after it (FG001, migration 002):
// a write answered with an error never takes effect later, on top of a newer acknowledged one.
// Retries, within the same deadline: a read lost with its connection (reset, backend terminated) is sent once more
// on a fresh one. A write is not: it may have been applied before the connection went (the commit made, the
// answer lost), and sending it again after another write of the key landed would put older content on top.
// A CancelRequest travels on its own connection and may land after the statement it meant has ended (say,
// stopped by statement_timeout a moment earlier), cancelling the next statement on that connection. Such a
// stray cancel (57014 before this call's own deadline) is retried once for reads and writes alike: a cancelled
// statement was rolled back, so the write is known not to have been applied.
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
   * Runs the query `make` builds, bounded by the deadline; `make` is given the deadline (performance.now()
   * scale) for a write to carry. A read lost with its connection is sent once more on a fresh one if time
   * remains; a write (`write: true`) is retried only after a stray cancel, which proves it was not applied.
   */
  run<T>(what: string, make: (deadlineAt: number) => CancellableQuery<T>, opts: { write?: boolean } = {}): Promise<T> {
    const deadlineAt = performance.now() + this.ms;
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
        current = make(deadlineAt);
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
            if (!retried && ((opts.write !== true && isConnectionLoss(err)) || isStrayCancel(err))) {
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
  if (q.active === true && typeof q.canceller === 'function') {
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
