// Admission control for reads that the memory tier cannot answer at once (a fresh hit never comes here: it
// costs less to answer than to refuse). Each such read takes one of `maxInFlight` slots while it waits on Redis
// or the store; when none is free it waits in a FIFO queue of at most `maxQueue`; and whatever happens it is
// answered within its deadline. A read that cannot get its content in time is handed back to the caller's
// `expire(reason)`, which answers stale content, the fallback body or a 503 (degrade.ts decides which; read.ts submits).
//
// Every deadline is `arrival + budget` with one budget for the process, so arrival order is deadline order:
// the oldest waiting read always expires first, and one sweep from the oldest is all the bookkeeping needed.
// The clock is injected; the sweep runs on an unref()ed timer, or by hand in tests.

/** Why a read was not answered with its content: the label of the degraded-answer metric. */
export type ShedReason = 'deadline' | 'queue-full' | 'event-loop' | 'memory' | 'store-error' | 'origin-error';
export const SHED_REASONS: readonly ShedReason[] = ['deadline', 'queue-full', 'event-loop', 'memory', 'store-error', 'origin-error'];

export interface AdmissionOptions {
  maxInFlight: number;
  maxQueue: number;
  /** The caller-facing deadline, ms from the request's arrival. */
  deadlineMs: number;
  /** Monotonic clock in ms (default performance.now). */
  now?: () => number;
  /** Sweep period in ms (default: a twentieth of the deadline, 1 to 50 ms); 0 = no timer (tests sweep by hand). */
  sweepMs?: number;
  /** A callback threw while answering a read: logged by the caller, never lets a sweep stop half-way. */
  onError?: (err: unknown) => void;
}

const QUEUED = 0;
const RUNNING = 1;
const DONE = 2;

/** One read under admission. `expired` turns true when it was answered without its content. */
export class Ticket {
  readonly deadline: number;
  expired = false;
  state = QUEUED;
  readonly run: () => void;
  readonly expire: (reason: ShedReason) => void;

  constructor(deadline: number, run: () => void, expire: (reason: ShedReason) => void) {
    this.deadline = deadline;
    this.run = run;
    this.expire = expire;
  }
}

export class Admission {
  readonly maxInFlight: number;
  readonly maxQueue: number;
  readonly deadlineMs: number;
  /** Time a read may take before it is answered degraded: the deadline less room for the sweep and the write. */
  readonly budgetMs: number;
  readonly #now: () => number;
  readonly #onError: (err: unknown) => void;
  #running = 0;
  /** Reads waiting for a slot, oldest first: #queue[#head..]. Expiry takes from the front too (arrival order is deadline order). */
  #queue: Ticket[] = [];
  #head = 0;
  /** Reads not yet answered, queued or running, oldest first: the sweep walks from the front. */
  readonly #watch = new Set<Ticket>();
  #timer: NodeJS.Timeout | undefined;

  constructor(opts: AdmissionOptions) {
    this.maxInFlight = Math.max(1, opts.maxInFlight);
    this.maxQueue = Math.max(0, opts.maxQueue);
    this.deadlineMs = opts.deadlineMs;
    this.#now = opts.now ?? (() => performance.now());
    this.#onError = opts.onError ?? (() => undefined);
    const sweepMs = opts.sweepMs ?? Math.min(50, Math.max(1, Math.floor(opts.deadlineMs / 20)));
    this.budgetMs = Math.max(1, opts.deadlineMs - 2 * sweepMs);
    if (sweepMs > 0) {
      this.#timer = setInterval(() => this.sweep(), sweepMs);
      this.#timer.unref();
    }
  }

  get inFlight(): number {
    return this.#running;
  }
  get queued(): number {
    return this.#queue.length - this.#head;
  }

  /**
   * Admits a read that arrived at `arrivedAt` (on this clock): runs it now if a slot is free, queues it, or
   * expires it at once ('queue-full', or 'deadline' when it is already too old). Call `done(ticket)` when the
   * work started by `run` settles, whether or not the read was expired meanwhile.
   */
  submit(arrivedAt: number, run: () => void, expire: (reason: ShedReason) => void): Ticket {
    const t = new Ticket(arrivedAt + this.budgetMs, run, expire);
    if (t.deadline <= this.#now()) {
      this.#expire(t, 'deadline');
    } else if (this.#running < this.maxInFlight && this.queued === 0) {
      this.#watch.add(t);
      this.#start(t);
    } else if (this.queued < this.maxQueue) {
      this.#watch.add(t);
      this.#queue.push(t);
    } else {
      this.#expire(t, 'queue-full');
    }
    return t;
  }

  /** The work of a running ticket settled: frees its slot and starts the oldest queued reads. */
  done(t: Ticket): void {
    if (t.state !== RUNNING) return;
    t.state = DONE;
    this.#running--;
    this.#watch.delete(t);
    this.#pump();
  }

  /** Expires every read whose deadline has come. Runs on the timer; tests call it after moving the clock. */
  sweep(): void {
    if (this.#watch.size === 0) return;
    const now = this.#now();
    for (const t of this.#watch) {
      if (t.deadline > now) break;
      this.#watch.delete(t);
      if (t.state === QUEUED) {
        // The oldest queued read (every older one has expired already), unless arrival times came out of order.
        if (this.#queue[this.#head] === t) this.#shift();
        else this.#queue.splice(this.#queue.indexOf(t, this.#head), 1);
      }
      this.#expire(t, 'deadline');
    }
  }

  close(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  #pump(): void {
    while (this.#running < this.maxInFlight && this.queued > 0) {
      const t = this.#shift();
      if (t.deadline <= this.#now()) {
        this.#watch.delete(t);
        this.#expire(t, 'deadline');
      } else {
        this.#start(t);
      }
    }
  }

  #shift(): Ticket {
    const t = this.#queue[this.#head++] as Ticket;
    if (this.#head === this.#queue.length) {
      this.#queue = [];
      this.#head = 0;
    } else if (this.#head > 1024 && this.#head * 2 > this.#queue.length) {
      this.#queue = this.#queue.slice(this.#head);
      this.#head = 0;
    }
    return t;
  }

  #start(t: Ticket): void {
    t.state = RUNNING;
    this.#running++;
    try {
      t.run();
    } catch (err) {
      this.#onError(err);
      this.done(t);
    }
  }

  #expire(t: Ticket, reason: ShedReason): void {
    if (t.expired) return;
    t.expired = true;
    if (t.state === QUEUED) t.state = DONE; // a running read keeps its slot until its work settles
    try {
      t.expire(reason);
    } catch (err) {
      this.#onError(err);
    }
  }
}
