// The engine of one thread: its connections, its share of the load, and one clock-driven scheduler (a single
// timer that re-arms itself) instead of a timer per request. The scheduler sends the open model's due requests,
// wakes closed-model users after their think time, expires requests past their deadline and closes each second.
//
// Closed model: every connection is a virtual user that sends its next request as soon as the previous one ends
// (after the think time, if any). Open model: requests are due on a schedule regardless of how the server is
// doing; each is timed from when it was due, and a request that finds no free connection waits for one (the pool
// grows up to -c connections).
import { performance } from 'node:perf_hooks';
import { Connection, type ConnectionOwner, type Endpoint } from './connection.ts';
import { recordMs } from './histogram.ts';
import { SelfMonitor } from './monitor.ts';
import { ERROR_KIND_INDEX, isTimeoutKind, type ErrorKind } from './outcome.ts';
import { LATE_SEND_MS, Recorder, type IntervalReport } from './recorder.ts';
import { RequestFactory, type RequestSpec } from './request.ts';
import { Schedule, type Stage } from './schedule.ts';

/** Everything a thread needs, as plain data (it crosses into worker threads by structured clone). */
export interface ThreadPlan {
  readonly thread: number;
  readonly threads: number;
  readonly endpoint: Endpoint;
  readonly request: RequestSpec;
  readonly model: 'closed' | 'open';
  /** Closed: this thread's virtual users. Open: the most connections this thread may open. */
  readonly connections: number;
  /** Open model: the whole run's stages (each thread takes every threads-th request of the schedule). */
  readonly stages: readonly Stage[];
  /** Closed model: think time between a response and the user's next request, ms (uniform in [min, max]). */
  readonly think: { readonly min: number; readonly max: number } | null;
  readonly durationMs: number | null;
  /** The whole run's request limit (each thread sends its share). */
  readonly requests: number | null;
  readonly timeoutMs: number;
  /** Status codes counted as success: a lookup table by code. */
  readonly ok: Uint8Array;
}

/** Back-off before a closed-model user reconnects after a failed connection, so a dead server is not spun on. */
const RECONNECT_BACKOFF_MS = 10;
/** The scheduler wakes at least this often to expire requests and close seconds. */
const HOUSEKEEPING_MS = 10;

export type ReportSink = (report: IntervalReport) => void;

export class ThreadEngine implements ConnectionOwner {
  readonly #plan: ThreadPlan;
  readonly #sink: ReportSink;
  readonly #recorder: Recorder;
  readonly #monitor = new SelfMonitor();
  readonly #factory: RequestFactory;
  readonly #readBuffer = Buffer.allocUnsafe(64 * 1024);
  readonly #conns: Connection[] = [];
  readonly #idle: Connection[] = [];
  readonly #open: boolean;
  readonly #schedule: Schedule;
  readonly #limit: number;
  #start = 0;
  #endAt = Number.POSITIVE_INFINITY;
  #second = 0;
  #nextSecondAt = 0;
  #issued = 0;
  #inFlight = 0;
  #stopping = false;
  #finished = false;
  #timer: NodeJS.Timeout | null = null;
  #timerAt = Number.POSITIVE_INFINITY;
  #lastSweep = 0;
  // open model
  #k = 0;
  #nextDue = Number.POSITIVE_INFINITY;
  #scheduleDone = false;
  // closed model: users waiting for their think time (or back-off) to end, as a binary heap on wake time
  readonly #sleepers: { conn: Connection; at: number }[] = [];
  #resolveDone: (() => void) | null = null;
  readonly done: Promise<void>;

  constructor(plan: ThreadPlan, sink: ReportSink) {
    this.#plan = plan;
    this.#sink = sink;
    this.#open = plan.model === 'open';
    this.#recorder = new Recorder(this.#open);
    this.#factory = new RequestFactory(plan.request, plan.thread, plan.threads);
    this.#schedule = new Schedule(plan.stages);
    this.#limit = plan.requests === null ? Number.POSITIVE_INFINITY : shareOf(plan.requests, plan.thread, plan.threads);
    this.done = new Promise((resolve) => {
      this.#resolveDone = resolve;
    });
  }

  /** Starts the run at `startAt` (performance.now() of this thread). */
  start(startAt: number): void {
    const wait = startAt - performance.now();
    if (wait > 1) {
      setTimeout(() => this.start(startAt), wait - 0.5);
      return;
    }
    this.#monitor.start();
    const now = performance.now();
    this.#start = startAt;
    this.#nextSecondAt = startAt + 1000;
    this.#lastSweep = now;
    if (this.#plan.durationMs !== null) this.#endAt = startAt + this.#plan.durationMs;
    if (this.#open) {
      this.#endAt = Math.min(this.#endAt, startAt + this.#schedule.totalMs);
      this.#k = 0;
      this.#advance();
      this.#dispatchDue(now);
    } else {
      for (let i = 0; i < this.#plan.connections; i++) {
        const conn = this.#newConnection();
        if (!this.#issue(conn, now)) break;
      }
    }
    this.#checkFinished(now);
    this.#arm(now);
  }

  /** Stops issuing requests; the run ends once the requests in flight complete or time out. */
  stop(): void {
    if (this.#stopping) return;
    this.#stopping = true;
    const now = performance.now();
    this.#sleepers.length = 0;
    this.#checkFinished(now);
  }

  // ── ConnectionOwner ──────────────────────────────────────────────────────────────────────────────────────────

  onResponse(conn: Connection, status: number, now: number): void {
    if (now >= this.#nextSecondAt) this.#closeSeconds(now);
    this.#inFlight--;
    this.#recorder.response(status, this.#plan.ok[status] === 1, now - conn.due, now - conn.issued);
    this.#next(conn, now, false);
  }

  onFailure(conn: Connection, kind: ErrorKind, now: number): void {
    if (now >= this.#nextSecondAt) this.#closeSeconds(now);
    this.#inFlight--;
    this.#recorder.failed(ERROR_KIND_INDEX[kind], now - conn.due);
    this.#next(conn, now, !isTimeoutKind(kind) || kind === 'connect-timeout');
  }

  onConnect(ms: number): void {
    this.#recorder.counts.connects++;
    recordMs(this.#recorder.connect, ms);
  }

  onBytes(read: number, written: number): void {
    const c = this.#recorder.counts;
    c.bytesIn += read;
    c.bytesOut += written;
  }

  // ── scheduling ───────────────────────────────────────────────────────────────────────────────────────────────

  /** What a connection does after its request ended. */
  #next(conn: Connection, now: number, connectionFailed: boolean): void {
    if (this.#stopping || now >= this.#endAt) {
      this.#stopping = true;
      this.#checkFinished(now);
      if (this.#open) this.#idle.push(conn);
      return;
    }
    if (this.#open) {
      if (!this.#scheduleDone && this.#nextDue <= now) {
        // a due request leaves on this connection now, still timed from when it was due; it waited for a
        // connection only if every connection was busy, otherwise it merely beat the timer to it
        if (this.#idle.length === 0 && this.#conns.length >= this.#plan.connections) this.#recorder.counts.waitedForConnection++;
        else if (now - this.#nextDue > LATE_SEND_MS) this.#recorder.counts.lateSends++;
        this.#sendDue(conn, now);
      } else {
        this.#idle.push(conn);
        if (this.#nextDue < this.#timerAt) this.#rearm(now);
      }
      this.#checkFinished(now);
      return;
    }
    const think = this.#plan.think;
    if (connectionFailed && !conn.open) {
      this.#sleep(conn, now + RECONNECT_BACKOFF_MS + (think ? think.min : 0));
    } else if (think !== null) {
      this.#sleep(conn, now + think.min + Math.random() * (think.max - think.min));
    } else if (!this.#issue(conn, now)) {
      this.#checkFinished(now);
    }
  }

  /** Closed model: the user sends its next request now, unless the run's limit is reached. */
  #issue(conn: Connection, now: number): boolean {
    if (this.#issued >= this.#limit || now >= this.#endAt || this.#stopping) return false;
    this.#issued++;
    this.#inFlight++;
    this.#recorder.counts.sent++;
    conn.send(now, now);
    return true;
  }

  /** Open model: the next due request leaves on `conn`. */
  #sendDue(conn: Connection, now: number): void {
    const due = this.#nextDue;
    this.#issued++;
    this.#inFlight++;
    this.#recorder.counts.sent++;
    recordMs(this.#recorder.sendDelay, now - due);
    conn.send(due, now);
    this.#advance();
  }

  /** Open model: moves to this thread's next request of the schedule. */
  #advance(): void {
    const p = this.#plan;
    const g = p.thread + p.threads * this.#k;
    this.#k++;
    const at = this.#issued >= this.#limit ? null : this.#schedule.dueAt(g);
    if (at === null || this.#start + at >= this.#endAt) {
      this.#scheduleDone = true;
      this.#nextDue = Number.POSITIVE_INFINITY;
      return;
    }
    this.#nextDue = this.#start + at;
  }

  #dispatchDue(now: number): void {
    while (!this.#scheduleDone && !this.#stopping && this.#nextDue <= now) {
      let conn = this.#idle.pop();
      if (conn === undefined) {
        if (this.#conns.length >= this.#plan.connections) return; // every connection is busy: the request waits
        conn = this.#newConnection();
      }
      if (now - this.#nextDue > LATE_SEND_MS) this.#recorder.counts.lateSends++;
      this.#sendDue(conn, now);
    }
  }

  #newConnection(): Connection {
    const p = this.#plan;
    const conn = new Connection(p.endpoint, this.#factory, this, this.#readBuffer, p.timeoutMs);
    this.#conns.push(conn);
    return conn;
  }

  #sleep(conn: Connection, at: number): void {
    const h = this.#sleepers;
    h.push({ conn, at });
    let i = h.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const a = h[i];
      const b = h[parent];
      if (!a || !b || b.at <= a.at) break;
      h[i] = b;
      h[parent] = a;
      i = parent;
    }
    if (at < this.#timerAt) this.#rearm(performance.now());
  }

  #wakeSleepers(now: number): void {
    const h = this.#sleepers;
    while (h.length > 0 && (h[0]?.at ?? Infinity) <= now) {
      const top = h[0];
      const last = h.pop();
      if (h.length > 0 && last) {
        h[0] = last;
        let i = 0;
        for (;;) {
          const l = 2 * i + 1;
          const r = l + 1;
          let m = i;
          if ((h[l]?.at ?? Infinity) < (h[m]?.at ?? Infinity)) m = l;
          if ((h[r]?.at ?? Infinity) < (h[m]?.at ?? Infinity)) m = r;
          if (m === i) break;
          const tmp = h[i];
          h[i] = h[m] as { conn: Connection; at: number };
          h[m] = tmp as { conn: Connection; at: number };
          i = m;
        }
      }
      if (top && !this.#issue(top.conn, now)) {
        h.length = 0;
        break;
      }
    }
  }

  readonly #tick = (): void => {
    this.#timer = null;
    this.#timerAt = Number.POSITIVE_INFINITY;
    if (this.#finished) return;
    const now = performance.now();
    if (now >= this.#nextSecondAt) this.#closeSeconds(now);
    // requests due before the end still leave when the timer fires a little after it (late, and timed from when
    // they were due); only then does the run stop sending
    if (this.#open) this.#dispatchDue(now);
    if (now >= this.#endAt && !this.#stopping) {
      this.#stopping = true;
      this.#sleepers.length = 0;
    }
    if (!this.#open && this.#sleepers.length > 0) this.#wakeSleepers(now);
    if (now - this.#lastSweep >= HOUSEKEEPING_MS || this.#stopping) this.#expire(now);
    this.#checkFinished(now);
    if (!this.#finished) this.#arm(now);
  };

  /** One timer: the next due request, sleeper, deadline sweep, end of second or end of run, whichever is first. */
  #arm(now: number): void {
    if (this.#timer !== null || this.#finished) return;
    let at = Math.min(now + HOUSEKEEPING_MS, this.#nextSecondAt, this.#endAt);
    if (this.#open && !this.#stopping && (this.#idle.length > 0 || this.#conns.length < this.#plan.connections)) {
      at = Math.min(at, this.#nextDue);
    }
    const top = this.#sleepers[0];
    if (top !== undefined) at = Math.min(at, top.at);
    this.#timerAt = at;
    this.#timer = setTimeout(this.#tick, Math.max(0, at - now));
  }

  /** Something became due earlier than the armed timer: arm again. */
  #rearm(now: number): void {
    if (this.#finished) return;
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    this.#arm(now);
  }

  #expire(now: number): void {
    this.#lastSweep = now;
    for (const conn of this.#conns) {
      if (conn.busy && now >= conn.deadline) conn.expire(now);
    }
  }

  /** Sends a report for every second that ended before `now`. */
  #closeSeconds(now: number): void {
    while (now >= this.#nextSecondAt) {
      const g = this.#monitor.sample();
      let open = 0;
      for (const c of this.#conns) if (c.open) open++;
      this.#sink(this.#recorder.report(this.#plan.thread, this.#second, false, { ...g, connections: open }));
      this.#second++;
      this.#nextSecondAt += 1000;
    }
  }

  #checkFinished(now: number): void {
    if (this.#finished) return;
    const noMoreWork = this.#stopping || (this.#open ? this.#scheduleDone : this.#issued >= this.#limit);
    if (!noMoreWork || this.#inFlight > 0) return;
    if (!this.#open && !this.#stopping && this.#sleepers.length > 0) return;
    this.#finish(now);
  }

  #finish(now: number): void {
    this.#finished = true;
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    this.#timerAt = Number.POSITIVE_INFINITY;
    if (now >= this.#nextSecondAt) this.#closeSeconds(now);
    const missed = this.#open ? this.#countMissed() : 0;
    for (const c of this.#conns) c.close();
    const g = this.#monitor.sample();
    this.#monitor.stop();
    this.#sink(this.#recorder.report(this.#plan.thread, this.#second, true, { ...g, connections: 0 }, missed, now - this.#start));
    this.#resolveDone?.();
  }

  /** Open model: requests of this thread's schedule that were due before the end but never left. */
  #countMissed(): number {
    if (this.#scheduleDone) return 0;
    let missed = 0;
    let due = this.#nextDue;
    let issued = this.#issued;
    const end = Math.min(this.#endAt, performance.now());
    while (due < end && issued < this.#limit && missed < 100_000_000) {
      missed++;
      issued++;
      const g = this.#plan.thread + this.#plan.threads * this.#k;
      this.#k++;
      const at = this.#schedule.dueAt(g);
      if (at === null) break;
      due = this.#start + at;
    }
    return missed;
  }
}

/** Thread `i` of `n` takes requests i, i+n, i+2n, … of `total`. */
export function shareOf(total: number, i: number, n: number): number {
  return total <= i ? 0 : Math.ceil((total - i) / n);
}
