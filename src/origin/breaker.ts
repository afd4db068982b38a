// The circuit breaker in front of one origin. Closed: every request goes. After `failures` failures in a row
// (5xx, timeouts, connection errors) it opens: requests are refused at once (misses go straight to stale or
// the fallback), except one probe every `probeEveryMs`. A probe that succeeds closes it; one that fails keeps it
// open for another interval. The clock is injected so tests move time without sleeping.
export type BreakerState = 'closed' | 'open' | 'half-open';

export interface BreakerOptions {
  failures?: number;
  probeEveryMs?: number;
  now?: () => number;
}

export class Breaker {
  readonly #threshold: number;
  readonly #probeEveryMs: number;
  readonly #now: () => number;
  #state: BreakerState = 'closed';
  #inARow = 0;
  #nextProbeAt = 0;
  /** Why the last request failed, for /readyz and the log. */
  lastError = '';

  constructor(opts: BreakerOptions = {}) {
    this.#threshold = opts.failures ?? 5;
    this.#probeEveryMs = opts.probeEveryMs ?? 1000;
    this.#now = opts.now ?? Date.now;
  }

  get state(): BreakerState {
    return this.#state;
  }
  /** Failures in a row so far (0 once a request succeeded). */
  get failing(): number {
    return this.#inARow;
  }

  /** Whether a request may go now; in the open state, true once per interval (that request is the probe). */
  allow(): boolean {
    if (this.#state === 'closed') return true;
    if (this.#state === 'half-open') return false; // one probe at a time
    if (this.#now() < this.#nextProbeAt) return false;
    this.#state = 'half-open';
    return true;
  }

  success(): void {
    this.#inARow = 0;
    this.#state = 'closed';
  }

  failure(why: string): void {
    this.lastError = why;
    this.#inARow++;
    if (this.#state === 'half-open' || (this.#state === 'closed' && this.#inARow >= this.#threshold)) {
      this.#state = 'open';
      this.#nextProbeAt = this.#now() + this.#probeEveryMs;
    }
  }
}
