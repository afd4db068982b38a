// The HTTP client of one origin, on undici: a keep-alive pool of HTTP/1.1 connections, `concurrency` requests
// in flight at most with a bounded queue behind them (a place that cannot be served in time at the origin's
// average latency is refused at once), a timeout per read (queue included), a circuit breaker,
// a body limit, and the status mapping: 200 is content, 404/410 is absence (cached negatively), anything else
// is an error (5xx, a timeout, a connection error, a 3xx, which is not followed but reported, another 4xx).
// A request the reader gave up on (timeout) keeps its slot and runs on, up to LATE_LIMIT_MS: if it answers, the
// answer goes to `late`, so the cache has it for the next read, and the origin is never sent more than its cap.
import { Pool } from 'undici';
import type { OriginDef } from '../content/origin-options.ts';
import { Breaker, type BreakerOptions } from './breaker.ts';

/** How long a request the reader gave up on may still run to fill the cache, ms. */
export const LATE_LIMIT_MS = 30_000;

export type OriginAnswer =
  | { readonly found: true; readonly body: Buffer; readonly contentType: string | undefined; readonly cacheControl: string | undefined; readonly age: string | undefined }
  | { readonly found: false };

/** Labels of floodgate_origin_requests_total{status}: the status code, or what went wrong before one. */
export type RequestStatus = string;
/** Why a read was answered without asking the origin. */
export type Refusal = 'breaker-open' | 'queue-full' | 'queue-timeout' | 'refresh-busy';

export interface OriginObserver {
  /** One request sent to the origin finished: its status label and duration. */
  request(status: RequestStatus, seconds: number): void;
  refused(reason: Refusal): void;
  /** The origin answered a redirect, which is not followed: logged (rate-limited by the caller). */
  redirected(status: number, location: string | undefined): void;
}

/** Why an origin read failed; `code` maps to a degraded answer (stale, fallback, else 503) at the edge. */
export class OriginError extends Error {
  override readonly name = 'OriginError';
  readonly code: 'FG_ORIGIN_UNAVAILABLE' | 'FG_ORIGIN_TIMEOUT';
  /**
   * Whether it says the origin is down (5xx, timeout, no connection), which counts toward the breaker; a
   * redirect, another 4xx or an oversize body is an answer the origin gave, which does not.
   */
  readonly outage: boolean;
  constructor(code: 'FG_ORIGIN_UNAVAILABLE' | 'FG_ORIGIN_TIMEOUT', message: string, outage = true) {
    super(message);
    this.code = code;
    this.outage = outage;
  }
}

export interface OriginClientOptions {
  observer: OriginObserver;
  breaker?: BreakerOptions;
}

interface Job {
  run: () => void;
  /** Answers the reader now (its request will never be sent). */
  expire: () => void;
  dropped: boolean;
  /** performance.now() by which the reader must have its answer. */
  deadline: number;
}

/** Weight of the newest request in the latency average the queue uses to judge who can still be answered. */
const EWMA = 0.2;

export class OriginClient {
  readonly #def: OriginDef;
  readonly #pool: Pool;
  readonly #base: string;
  readonly #path: string;
  readonly #obs: OriginObserver;
  readonly breaker: Breaker;
  readonly #queue: Job[] = [];
  #inFlight = 0;
  /** Average latency of the origin's answers, ms (0 until one came). */
  #latencyMs = 0;

  constructor(def: OriginDef, opts: OriginClientOptions) {
    this.#def = def;
    const at = def.url.indexOf('/', def.url.indexOf('://') + 3);
    const q = def.url.indexOf('?', def.url.indexOf('://') + 3);
    const cut = at === -1 ? q : q === -1 ? at : Math.min(at, q);
    this.#base = def.url.slice(0, cut);
    this.#path = def.url.slice(cut);
    if (!this.#path.startsWith('/')) this.#path = `/${this.#path}`;
    // One connection per allowed request: the pool never opens more than the origin's cap, and keeps them alive.
    this.#pool = new Pool(this.#base, { connections: def.concurrency, pipelining: 1, keepAliveTimeout: 30_000, headersTimeout: LATE_LIMIT_MS, bodyTimeout: LATE_LIMIT_MS, allowH2: false });
    this.#obs = opts.observer;
    this.breaker = new Breaker(opts.breaker);
  }

  /** The origin's scheme, host and port (for logs and /readyz; never a key). */
  get base(): string {
    return this.#base;
  }
  get inFlight(): number {
    return this.#inFlight;
  }
  get queued(): number {
    return this.#queue.length;
  }

  /**
   * The origin's answer for a key within the timeout, or an OriginError. `late` receives an answer that came
   * after the timeout (the reader was already answered stale or with the fallback).
   */
  get(key: string, headers: Readonly<Record<string, string>> | undefined, late: (answer: OriginAnswer) => void, background = false): Promise<OriginAnswer> {
    // A background refresh (its stale copy is being served) takes only an idle slot: it never queues ahead of a
    // miss that someone waits on. Refused, the stale copy stays, and a later read tries again.
    if (background && (this.#inFlight >= this.#def.concurrency || this.#queue.length > 0)) {
      this.#obs.refused('refresh-busy');
      return Promise.reject(new OriginError('FG_ORIGIN_UNAVAILABLE', 'every origin slot is busy with reads that wait; the refresh is left for later', false));
    }
    if (!this.breaker.allow()) {
      this.#obs.refused('breaker-open');
      return Promise.reject(new OriginError('FG_ORIGIN_UNAVAILABLE', `the origin ${this.#base} is failing (${this.breaker.lastError}); its circuit breaker is open`));
    }
    return new Promise<OriginAnswer>((resolve, reject) => {
      let settled = false;
      let sent = false;
      const job: Job = { dropped: false, run: () => undefined, expire: () => undefined, deadline: performance.now() + this.#def.timeoutMs };
      const timer = setTimeout(() => {
        settled = true;
        if (!sent) {
          // Still queued: it is never sent. Not the origin's failure (it is busy with requests sent earlier).
          job.dropped = true;
          this.#obs.refused('queue-timeout');
        }
        reject(new OriginError('FG_ORIGIN_TIMEOUT', `the origin did not answer within ${this.#def.timeoutMs} ms`));
      }, this.#def.timeoutMs);
      job.expire = () => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        this.#obs.refused('queue-timeout');
        reject(new OriginError('FG_ORIGIN_TIMEOUT', `the origin could not be asked within ${this.#def.timeoutMs} ms (${this.#def.concurrency} requests in flight, answering in ${Math.round(this.#latencyMs)} ms on average)`));
      };
      job.run = () => {
        sent = true;
        this.#inFlight++;
        // The breaker judges the request itself (from when it was sent), not how long its reader waited in the queue.
        const sentAt = performance.now();
        let judged = false;
        const judge = (ok: boolean, why: string): void => {
          if (judged) return;
          judged = true;
          clearTimeout(slow);
          if (ok) this.breaker.success();
          else this.breaker.failure(why);
        };
        const slow = setTimeout(() => judge(false, `no answer within ${this.#def.timeoutMs} ms`), this.#def.timeoutMs);
        this.#send(key, headers).then(
          (answer) => {
            const ms = performance.now() - sentAt;
            this.#latencyMs = this.#latencyMs === 0 ? ms : this.#latencyMs + EWMA * (ms - this.#latencyMs);
            judge(true, '');
            if (!settled) {
              settled = true;
              clearTimeout(timer);
              resolve(answer);
            } else late(answer);
          },
          (err: unknown) => {
            judge(err instanceof OriginError && !err.outage, (err as Error).message);
            if (settled) return;
            settled = true;
            clearTimeout(timer);
            reject(err);
          },
        ).finally(() => {
          this.#inFlight--;
          this.#next();
        });
      };
      // A place in the queue that cannot be reached in time (by the average latency) is refused at once.
      const wait = (Math.floor(this.#queue.length / this.#def.concurrency) + 1) * this.#latencyMs;
      if (this.#inFlight < this.#def.concurrency) job.run();
      else if (this.#queue.length < this.#def.queue && wait + this.#latencyMs < this.#def.timeoutMs) this.#queue.push(job);
      else {
        settled = true;
        clearTimeout(timer);
        this.#obs.refused('queue-full');
        reject(new OriginError('FG_ORIGIN_UNAVAILABLE', `the origin's queue is full (${this.#def.concurrency} requests in flight, ${this.#def.queue} waiting)`));
      }
    });
  }

  #next(): void {
    while (this.#inFlight < this.#def.concurrency) {
      const job = this.#queue.shift();
      if (job === undefined) return;
      if (job.dropped) continue;
      // Its answer would come after its reader's deadline: answer the reader now and ask for the next one.
      if (job.deadline - performance.now() < this.#latencyMs) job.expire();
      else job.run();
    }
  }

  /** One request: the answer (200 / 404 / 410) or an OriginError; counted either way. */
  async #send(key: string, headers: Readonly<Record<string, string>> | undefined): Promise<OriginAnswer> {
    const t0 = performance.now();
    const count = (status: RequestStatus): void => this.#obs.request(status, (performance.now() - t0) / 1000);
    let res: Awaited<ReturnType<Pool['request']>>;
    try {
      res = await this.#pool.request({
        path: this.#path.replaceAll('{key}', encodeURIComponent(key)),
        method: 'GET',
        headers: { ...headers, 'user-agent': 'floodgate' },
        signal: AbortSignal.timeout(LATE_LIMIT_MS),
      });
    } catch (err) {
      const timeout = (err as { name?: string }).name === 'TimeoutError' || /timeout/i.test((err as { code?: string }).code ?? '');
      count(timeout ? 'timeout' : 'error');
      throw new OriginError(timeout ? 'FG_ORIGIN_TIMEOUT' : 'FG_ORIGIN_UNAVAILABLE', `the origin ${this.#base} cannot be reached: ${(err as Error).message}`);
    }
    const status = res.statusCode;
    const header = (name: string): string | undefined => {
      const v = res.headers[name];
      return Array.isArray(v) ? v.join(', ') : v;
    };
    if (status !== 200) {
      await res.body.dump().catch(() => undefined);
      count(status === 404 || status === 410 ? String(status) : `${Math.floor(status / 100)}xx`);
      if (status === 404 || status === 410) return { found: false };
      if (status >= 300 && status < 400) {
        this.#obs.redirected(status, header('location'));
        throw new OriginError('FG_ORIGIN_UNAVAILABLE', `the origin answered ${status} (a redirect, which is not followed; Location: ${header('location') ?? 'none'})`, false);
      }
      throw new OriginError('FG_ORIGIN_UNAVAILABLE', `the origin answered ${status}`, status >= 500);
    }
    const limit = this.#def.bodyLimit;
    const declared = Number(header('content-length'));
    if (declared > limit) {
      res.body.destroy();
      count('too-large');
      throw new OriginError('FG_ORIGIN_UNAVAILABLE', `the origin's answer is ${declared} bytes, over the limit of ${limit}`, false);
    }
    const chunks: Buffer[] = [];
    let size = 0;
    try {
      for await (const chunk of res.body as AsyncIterable<Buffer>) {
        size += chunk.length;
        if (size > limit) {
          res.body.destroy();
          count('too-large');
          throw new OriginError('FG_ORIGIN_UNAVAILABLE', `the origin's answer is over the limit of ${limit} bytes`, false);
        }
        chunks.push(chunk);
      }
    } catch (err) {
      if (err instanceof OriginError) throw err;
      count('error');
      throw new OriginError('FG_ORIGIN_UNAVAILABLE', `the origin's answer was cut off: ${(err as Error).message}`);
    }
    count('200');
    return { found: true, body: Buffer.concat(chunks, size), contentType: header('content-type'), cacheControl: header('cache-control'), age: header('age') };
  }

  async close(): Promise<void> {
    for (const job of this.#queue) job.dropped = true;
    this.#queue.length = 0;
    await this.#pool.destroy();
  }
}
