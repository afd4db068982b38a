// How long a request waited for the event loop before the server read it: the queueing a miss would add to,
// measured, not guessed from the number of open connections.
//
// Node reads every socket that became readable in one go (libuv's poll phase takes up to 48 × 1024 ready
// sockets per loop iteration), runs their requests, then the rest of the iteration. So bytes that reached the
// kernel while iteration k−1 was running are read in iteration k: a request read at time t in iteration k waited
// at most t − (start of iteration k−1). Unless the loop went idle in between: then nothing was waiting when it
// blocked, the request arrived into an idle loop, and it waited only behind the requests read before it in its
// own iteration (t − start of iteration k). libuv counts the time it blocks for I/O (the event-loop
// utilisation's `idle`), so telling the two apart costs one read of that counter per iteration.
//
// Iterations that read no request still bound the wait: bytes waiting in the kernel would have been read by the
// poll phase of any iteration that ran after they arrived. The pressure sampler's timer marks such iterations:
// its second-to-last run happened in an earlier iteration than the current one (an interval timer runs at most
// once per iteration), so no request read now can have arrived before it. That keeps a loop that is busy but
// keeps yielding (a bulk import between batches) from looking like a queue.
//
// A new connection's first request is the exception: a socket accepted in iteration k−1 joins the poll set only
// then, so its request may have sat in the kernel, with the connection in the accept queue, since before that
// iteration began (a burst of new connections is how a campaign arrives). Such a request is bounded by the wait
// the connection itself had: `connected()` records it, `waitedAt(now, socket)` uses it while no iteration began
// after the accept. A connection that sat idle before its first request is bounded as usual.
//
// An iteration is delimited without a timer: the first request of an iteration opens it and schedules a
// setImmediate, which runs in the check phase right after the poll phase and closes it. One call per request
// (a boolean test, nothing allocated) and one setImmediate per iteration that read a request. Idle keep-alive
// connections cost nothing and count for nothing: only the loop's own time does. This is CoDel's sojourn time
// (the queue delay a packet actually had) for a queue that lives in the kernel's socket buffers.
import { performance } from 'node:perf_hooks';

/** The loop's accumulated idle time in ms (blocked waiting for I/O). */
export type IdleClock = () => number;

/** How the iteration's end is scheduled: setImmediate in the server; by hand in tests. */
export type Scheduler = (fn: () => void) => void;

/** The loop blocked for I/O since the last iteration closed if its idle time grew by more than this (ms). */
const IDLE_EPSILON_MS = 0.01;

export class LoopWait {
  readonly #idle: IdleClock;
  readonly #schedule: Scheduler;
  /** True from an iteration's first request to its check phase. */
  #open = false;
  /** When the current iteration's first request was read. */
  #start = Number.NEGATIVE_INFINITY;
  /** The earliest a request read in the current iteration can have arrived. */
  #since = Number.NEGATIVE_INFINITY;
  #idleAtClose = Number.NEGATIVE_INFINITY;
  /** New connections whose first read has not been judged yet: when accepted, and their bound then. */
  readonly #accepted = new WeakMap<object, { at: number; since: number }>();
  /** The sampler's last two runs; the older one was in an earlier iteration than the current one. */
  #tick = Number.NEGATIVE_INFINITY;
  #tickBefore = Number.NEGATIVE_INFINITY;
  readonly #close = (): void => {
    this.#open = false;
    this.#idleAtClose = this.#idle();
  };

  constructor(idle: IdleClock = () => performance.eventLoopUtilization().idle, schedule: Scheduler = setImmediate) {
    this.#idle = idle;
    this.#schedule = schedule;
  }

  /** A request was read at `now` (performance.now()). Every request calls this, hits included. */
  arrive(now: number): void {
    if (this.#open) return;
    this.#open = true;
    const wasIdle = this.#idle() - this.#idleAtClose > IDLE_EPSILON_MS;
    this.#since = wasIdle ? now : this.#start;
    this.#start = now;
    this.#schedule(this.#close);
  }

  /** A connection was accepted at `now`: remember how long it may already have waited, for its first request. */
  connected(socket: object, now: number): void {
    this.arrive(now);
    this.#accepted.set(socket, { at: now, since: this.#bound() });
  }

  /** The loop's accumulated idle time (ms), from the same clock that tells idle iterations apart. */
  idleMs(): number {
    return this.#idle();
  }

  /** The sampler's timer ran at `now`: a mark of an iteration that was not stuck. */
  tick(now: number): void {
    this.#tickBefore = this.#tick;
    this.#tick = now;
  }

  /**
   * The longest a request read at `now`, in the current iteration, may have waited for the loop (ms); with its
   * socket, a new connection's first request counts the connection's own wait.
   */
  waitedAt(now: number, socket?: object): number {
    let since = this.#bound();
    const c = socket === undefined ? undefined : this.#accepted.get(socket);
    if (c !== undefined) {
      this.#accepted.delete(socket as object);
      if (since <= c.at) since = Math.min(since, c.since);
    }
    return now - since;
  }

  /** The earliest a request read now, on a socket already polled, can have arrived. */
  #bound(): number {
    return Math.max(this.#since, this.#tickBefore);
  }
}
