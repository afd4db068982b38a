// The campaign engine of one thread. Recipients are due on the burst schedule (thread t of n takes recipients
// t, t+n, …); each due recipient's request is rendered once (its random id drawn from the seeded generator) and
// the same bytes leave on 2–3 connections at that instant. Connections open on demand up to this thread's share
// of the cap; a call that finds none free waits for one, still timed from when it was due, and times out 2 s
// after it was due whether it waited or not (the caller's clock, not the socket's). One clock-driven timer, as in
// ../thread.ts. Every call's end feeds flood's Recorder (so the usual summary and verdict hold) and the
// campaign's own counts: per-recipient outcomes and the caller's failure count per second.
import { performance } from 'node:perf_hooks';
import { Connection, type ConnectionOwner, type Endpoint } from '../connection.ts';
import { recordMs } from '../histogram.ts';
import { SelfMonitor } from '../monitor.ts';
import { ERROR_KIND_INDEX, type ErrorKind } from '../outcome.ts';
import { LATE_SEND_MS, Recorder, type IntervalReport } from '../recorder.ts';
import { RequestFactory, type RequestSpec } from '../request.ts';
import { isGoodCall, RecipientBook, type RecipientCounts } from './book.ts';
import { BurstSchedule } from './burst.ts';
import { seededRandom } from './options.ts';
import { isCallerFailureStatus } from './unhealthy.ts';

/** Everything a campaign thread needs, as plain data (it crosses into worker threads by structured clone). */
export interface CampaignPlan {
  readonly thread: number;
  readonly threads: number;
  readonly endpoint: Endpoint;
  readonly request: RequestSpec;
  readonly recipients: number;
  readonly perMinute: number;
  readonly burstMs: number;
  readonly calls: { readonly min: number; readonly max: number };
  readonly timeoutMs: number;
  /** The most connections this thread may open. */
  readonly connections: number;
  readonly seed: number;
  readonly ok: Uint8Array;
}

/** What the campaign adds to a thread's once-a-second report. */
export interface CampaignInterval {
  readonly counts: RecipientCounts;
  /** Calls that ended this second (answered, failed or timed out). */
  readonly calls: number;
  /** Of those, the ones the caller's unhealthy-host rule counts. */
  readonly failures: number;
  /** Final report only: recipients whose calls had not all ended (the run was stopped). */
  readonly unfinished: number;
  /** Final report only: recipients never released (the run was stopped before they were due). */
  readonly unreleased: number;
}

export interface CampaignReport {
  readonly flood: IntervalReport;
  readonly campaign: CampaignInterval;
}

export type CampaignSink = (report: CampaignReport) => void;

interface QueuedCall {
  readonly recipient: number;
  readonly due: number;
  readonly payload: string;
}

const HOUSEKEEPING_MS = 10;

export class CampaignThread implements ConnectionOwner {
  readonly #plan: CampaignPlan;
  readonly #sink: CampaignSink;
  readonly #recorder = new Recorder(true);
  readonly #monitor = new SelfMonitor();
  readonly #book = new RecipientBook();
  readonly #random: () => number;
  readonly #factory: RequestFactory;
  readonly #schedule: BurstSchedule;
  readonly #readBuffer = Buffer.allocUnsafe(64 * 1024);
  readonly #conns: Connection[] = [];
  readonly #idle: Connection[] = [];
  readonly #recipientOf = new Map<Connection, number>();
  readonly #queue: QueuedCall[] = [];
  #queueHead = 0;
  #start = 0;
  #second = 0;
  #nextSecondAt = 0;
  #inFlight = 0;
  #calls = 0;
  #failures = 0;
  #k = 0;
  #nextDue = Number.POSITIVE_INFINITY;
  #scheduleDone = false;
  #stopping = false;
  #finished = false;
  #timer: NodeJS.Timeout | null = null;
  #timerAt = Number.POSITIVE_INFINITY;
  #lastSweep = 0;
  #resolveDone: (() => void) | null = null;
  readonly done: Promise<void>;

  constructor(plan: CampaignPlan, sink: CampaignSink) {
    this.#plan = plan;
    this.#sink = sink;
    // one generator per thread, from the seed: ids and call counts are the same for the same seed and threads
    this.#random = seededRandom((plan.seed * 1_000_003 + plan.thread) >>> 0);
    this.#factory = new RequestFactory(plan.request, plan.thread, plan.threads, this.#random);
    this.#schedule = new BurstSchedule(plan.recipients, plan.perMinute, plan.burstMs);
    this.done = new Promise((resolve) => {
      this.#resolveDone = resolve;
    });
  }

  /** Starts the campaign at `startAt` (performance.now() of this thread). */
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
    this.#advance();
    this.#dispatchDue(now);
    this.#checkFinished(now);
    this.#arm(now);
  }

  /** Stops releasing recipients; the run ends once the calls in flight end (queued calls are dropped). */
  stop(): void {
    if (this.#stopping) return;
    this.#stopping = true;
    this.#queue.length = 0;
    this.#queueHead = 0;
    this.#checkFinished(performance.now());
  }

  // ── ConnectionOwner ──────────────────────────────────────────────────────────────────────────────────────────

  onResponse(conn: Connection, status: number, now: number): void {
    if (now >= this.#nextSecondAt) this.#closeSeconds(now);
    this.#inFlight--;
    this.#recorder.response(status, this.#plan.ok[status] === 1, now - conn.due, now - conn.issued);
    this.#ended(this.#recipientOf.get(conn) ?? -1, isGoodCall(status, conn.hasBody), isCallerFailureStatus(status));
    this.#next(conn, now);
  }

  onFailure(conn: Connection, kind: ErrorKind, now: number): void {
    if (now >= this.#nextSecondAt) this.#closeSeconds(now);
    this.#inFlight--;
    this.#recorder.failed(ERROR_KIND_INDEX[kind], now - conn.due);
    // timeouts and every connection-level failure count for the caller's unhealthy-host rule
    this.#ended(this.#recipientOf.get(conn) ?? -1, false, true);
    this.#next(conn, now);
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

  #ended(recipient: number, good: boolean, callerFailure: boolean): void {
    this.#calls++;
    if (callerFailure) this.#failures++;
    this.#book.close(recipient, good);
  }

  /** A connection is free: the oldest waiting call leaves on it, or it goes idle. */
  #next(conn: Connection, now: number): void {
    this.#expireQueued(now);
    if (!this.#stopping && this.#queueHead < this.#queue.length) {
      const call = this.#queue[this.#queueHead++] as QueuedCall;
      this.#compactQueue();
      this.#send(conn, call.recipient, call.due, call.payload, now);
    } else {
      this.#idle.push(conn);
    }
    this.#checkFinished(now);
  }

  #advance(): void {
    const p = this.#plan;
    const i = p.thread + p.threads * this.#k;
    this.#k++;
    if (i >= p.recipients) {
      this.#scheduleDone = true;
      this.#nextDue = Number.POSITIVE_INFINITY;
      return;
    }
    this.#nextDue = this.#start + this.#schedule.dueAt(i);
  }

  /** Releases every recipient due by now: one rendering, 2–3 calls at the same instant. */
  #dispatchDue(now: number): void {
    const p = this.#plan;
    while (!this.#scheduleDone && !this.#stopping && this.#nextDue <= now) {
      const recipient = p.thread + p.threads * (this.#k - 1);
      const due = this.#nextDue;
      const payload = this.#factory.render();
      const calls = p.calls.min + Math.floor(this.#random() * (p.calls.max - p.calls.min + 1));
      this.#book.open(recipient, calls);
      for (let c = 0; c < calls; c++) {
        let conn = this.#idle.pop();
        if (conn === undefined && this.#conns.length < p.connections) conn = this.#newConnection();
        if (conn === undefined) {
          this.#recorder.counts.waitedForConnection++;
          this.#queue.push({ recipient, due, payload });
        } else {
          if (now - due > LATE_SEND_MS) this.#recorder.counts.lateSends++;
          this.#send(conn, recipient, due, payload, now);
        }
      }
      this.#advance();
    }
  }

  #send(conn: Connection, recipient: number, due: number, payload: string, now: number): void {
    this.#inFlight++;
    this.#recorder.counts.sent++;
    recordMs(this.#recorder.sendDelay, now - due);
    this.#recipientOf.set(conn, recipient);
    conn.send(due, now, payload);
    // the caller's timeout runs from when it needed the answer, whether or not the call waited for a connection
    conn.deadline = due + this.#plan.timeoutMs;
  }

  /** Calls that waited for a connection past their deadline time out where they are. */
  #expireQueued(now: number): void {
    const q = this.#queue;
    const timeout = this.#plan.timeoutMs;
    while (this.#queueHead < q.length) {
      const call = q[this.#queueHead] as QueuedCall;
      if (now < call.due + timeout) break;
      this.#queueHead++;
      this.#recorder.failed(ERROR_KIND_INDEX.timeout, now - call.due);
      this.#ended(call.recipient, false, true);
    }
    this.#compactQueue();
  }

  #compactQueue(): void {
    if (this.#queueHead > 1024 && this.#queueHead * 2 > this.#queue.length) {
      this.#queue.splice(0, this.#queueHead);
      this.#queueHead = 0;
    }
  }

  #newConnection(): Connection {
    const p = this.#plan;
    const conn = new Connection(p.endpoint, this.#factory, this, this.#readBuffer, p.timeoutMs);
    this.#conns.push(conn);
    return conn;
  }

  readonly #tick = (): void => {
    this.#timer = null;
    this.#timerAt = Number.POSITIVE_INFINITY;
    if (this.#finished) return;
    const now = performance.now();
    if (now >= this.#nextSecondAt) this.#closeSeconds(now);
    this.#dispatchDue(now);
    if (now - this.#lastSweep >= HOUSEKEEPING_MS || this.#stopping) this.#expire(now);
    this.#checkFinished(now);
    if (!this.#finished) this.#arm(now);
  };

  #arm(now: number): void {
    if (this.#timer !== null || this.#finished) return;
    let at = Math.min(now + HOUSEKEEPING_MS, this.#nextSecondAt);
    if (!this.#stopping) at = Math.min(at, this.#nextDue);
    this.#timerAt = at;
    this.#timer = setTimeout(this.#tick, Math.max(0, at - now));
  }

  #expire(now: number): void {
    this.#lastSweep = now;
    this.#expireQueued(now);
    for (const conn of this.#conns) {
      if (conn.busy && now >= conn.deadline) conn.expire(now);
    }
  }

  #closeSeconds(now: number): void {
    while (now >= this.#nextSecondAt) {
      const g = this.#monitor.sample();
      let open = 0;
      for (const c of this.#conns) if (c.open) open++;
      this.#sink({
        flood: this.#recorder.report(this.#plan.thread, this.#second, false, { ...g, connections: open }),
        campaign: this.#takeInterval(0, 0),
      });
      this.#second++;
      this.#nextSecondAt += 1000;
    }
  }

  #takeInterval(unfinished: number, unreleased: number): CampaignInterval {
    const out = { counts: this.#book.take(), calls: this.#calls, failures: this.#failures, unfinished, unreleased };
    this.#calls = 0;
    this.#failures = 0;
    return out;
  }

  #checkFinished(now: number): void {
    if (this.#finished) return;
    const noMoreWork = this.#stopping || (this.#scheduleDone && this.#queueHead >= this.#queue.length);
    if (!noMoreWork || this.#inFlight > 0) return;
    this.#finish(now);
  }

  #finish(now: number): void {
    this.#finished = true;
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    if (now >= this.#nextSecondAt) this.#closeSeconds(now);
    // recipients never released because the run was stopped
    let unreleased = 0;
    if (!this.#scheduleDone) {
      const p = this.#plan;
      const i = p.thread + p.threads * (this.#k - 1);
      unreleased = i < p.recipients ? Math.ceil((p.recipients - i) / p.threads) : 0;
    }
    for (const c of this.#conns) c.close();
    const g = this.#monitor.sample();
    this.#monitor.stop();
    this.#sink({
      flood: this.#recorder.report(this.#plan.thread, this.#second, true, { ...g, connections: 0 }, 0, now - this.#start),
      campaign: this.#takeInterval(this.#book.pending, unreleased),
    });
    this.#resolveDone?.();
  }
}
