// How long a request waited for the event loop before the server read it: the queueing a miss would add to,
// measured, not guessed from the number of open connections.
//
// Node reads every socket that became readable in one go (libuv's poll phase takes up to 48 × 1024 ready
// sockets per loop iteration), runs their requests, then the rest of the iteration. So bytes that reached the
// kernel while iteration k−1 was running are read in iteration k: a request read at time t in iteration k waited
// at most t − (start of iteration k−1). Unless the loop went idle in between: then nothing was waiting when it
// blocked, so the request arrived after the block ended, and it waited only for what the loop did since. The
// block's end is not observed, but it is bounded: all the idle time the loop had since a moment p (the last
// iteration's close, or the sampler's last run) fell between p and the block's end, so the block ended at
// p + (idle since p) or later. Bounding by that, not by "now", matters when a long callback ran between the
// block and the read (a 400 ms timer after an idle moment): the requests that reached the kernel during that
// callback waited for all of it. libuv counts the time it blocks for I/O (the event-loop utilisation's
// `idle`), so this costs one read of that counter per iteration, and one clock read when the iteration closes.
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

/** A clock in ms (performance.now in the server; the test's clock in tests). */
export type Clock = () => number;

/** The loop blocked for I/O since the last iteration closed if its idle time grew by more than this (ms). */
const IDLE_EPSILON_MS = 0.01;

export class LoopWait {
  readonly #idle: IdleClock;
  readonly #schedule: Scheduler;
  readonly #clock: Clock;
  /** True from an iteration's first request to its check phase. */
  #open = false;
  /** When the current iteration's first request was read. */
  #start = Number.NEGATIVE_INFINITY;
  /** The earliest a request read in the current iteration can have arrived. */
  #since = Number.NEGATIVE_INFINITY;
  #idleAtClose: number;
  /** When the last iteration closed (or the monitor was made). */
  #closedAt: number;
  /** The loop's idle time at the sampler's last run (its time is #tick). */
  #idleAtTick = Number.NEGATIVE_INFINITY;
  /** New connections whose first read has not been judged yet: when accepted, and their bound then. */
  readonly #accepted = new WeakMap<object, { at: number; since: number }>();
  /** The sampler's last two runs; the older one was in an earlier iteration than the current one. */
  #tick = Number.NEGATIVE_INFINITY;
  #tickBefore = Number.NEGATIVE_INFINITY;
  readonly #close = (): void => {
    this.#open = false;
    this.#idleAtClose = this.#idle();
    this.#closedAt = this.#clock();
  };

  constructor(idle: IdleClock = () => performance.eventLoopUtilization().idle, schedule: Scheduler = setImmediate, clock: Clock = () => performance.now()) {
    this.#idle = idle;
    this.#schedule = schedule;
    this.#clock = clock;
    this.#idleAtClose = idle();
    this.#closedAt = clock();
    this.#start = this.#closedAt;
  }

  /** A request was read at `now` (performance.now()). Every request calls this, hits included. */
  arrive(now: number): void {
    if (this.#open) return;
    this.#open = true;
    const idle = this.#idle();
    const idledSinceClose = idle - this.#idleAtClose;
    if (idledSinceClose > IDLE_EPSILON_MS) {
      // The loop blocked since the last iteration: the request arrived after that block ended.
      let blockEnded = this.#closedAt + idledSinceClose;
      const idledSinceTick = idle - this.#idleAtTick;
      if (this.#tick > this.#closedAt && idledSinceTick > IDLE_EPSILON_MS) blockEnded = Math.max(blockEnded, this.#tick + idledSinceTick);
      this.#since = Math.min(now, blockEnded);
    } else {
      this.#since = this.#start;
    }
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
    this.#idleAtTick = this.#idle();
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
