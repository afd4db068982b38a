// Per-recipient accounting. A recipient's message is rendered with 2–3 identical Connected Content calls; the
// platform uses the answer of each call, and a call that fails leaves its part of the message blank. So a
// recipient counts as personalized only when every one of its calls got a 2xx with a non-empty body within the
// timeout, as blank when none did, and as partly personalized otherwise. Calls are counted too (good / blank).
// Pure bookkeeping, no clock: the engine tells it which call of which recipient ended how.

export interface RecipientCounts {
  /** Recipients whose every call was good. */
  personalized: number;
  /** Recipients with some good and some blank calls. */
  partial: number;
  /** Recipients none of whose calls was good. */
  blank: number;
  /** Calls answered 2xx with a body within the timeout. */
  goodCalls: number;
  /** Every other call: another status, an empty body, a timeout, a connection error. */
  blankCalls: number;
}

export function emptyRecipientCounts(): RecipientCounts {
  return { personalized: 0, partial: 0, blank: 0, goodCalls: 0, blankCalls: 0 };
}

export function addRecipientCounts(into: RecipientCounts, from: RecipientCounts): void {
  into.personalized += from.personalized;
  into.partial += from.partial;
  into.blank += from.blank;
  into.goodCalls += from.goodCalls;
  into.blankCalls += from.blankCalls;
}

/** What Braze would use: a 2xx answer that carries a body. Anything else leaves the call's part blank. */
export function isGoodCall(status: number, hasBody: boolean): boolean {
  return status >= 200 && status < 300 && hasBody;
}

export type RecipientOutcome = 'personalized' | 'partial' | 'blank';

export class RecipientBook {
  /** recipient → [calls still open, good calls so far, calls in all] */
  readonly #open = new Map<number, [number, number, number]>();
  counts: RecipientCounts = emptyRecipientCounts();

  /** Recipients with calls still in flight (or waiting for a connection). */
  get pending(): number {
    return this.#open.size;
  }

  /** Recipient `id` is rendered now with `calls` calls. */
  open(id: number, calls: number): void {
    if (calls < 1) throw new RangeError('a recipient has at least one call');
    if (this.#open.has(id)) throw new Error(`recipient ${id} is already open`);
    this.#open.set(id, [calls, 0, calls]);
  }

  /** One call of recipient `id` ended; returns the recipient's outcome once its last call has ended, else null. */
  close(id: number, good: boolean): RecipientOutcome | null {
    const entry = this.#open.get(id);
    if (entry === undefined) throw new Error(`recipient ${id} has no open call`);
    entry[0]--;
    if (good) {
      entry[1]++;
      this.counts.goodCalls++;
    } else {
      this.counts.blankCalls++;
    }
    if (entry[0] > 0) return null;
    this.#open.delete(id);
    const outcome: RecipientOutcome = entry[1] === 0 ? 'blank' : entry[1] === entry[2] ? 'personalized' : 'partial';
    this.counts[outcome]++;
    return outcome;
  }

  /** Takes this interval's counts and starts a new interval (open recipients stay open). */
  take(): RecipientCounts {
    const out = this.counts;
    this.counts = emptyRecipientCounts();
    return out;
  }
}
