// When the shared cache (L2, Redis) may hold content older than the store, and how it is repaired before it is
// read again. An acknowledged write must never be followed by an older read, yet a write made while Redis is
// unreachable commits to the store and leaves Redis's older copy behind; so do changes announced while this
// instance's subscription was down. Rather than checking the store on every Redis hit (the cold path is the
// product), each instance keeps one number: the highest store version whose change it knows reached Redis.
// When that chain breaks (a failed L2 update, the tier going unhealthy, a gap in the subscription), the instance
// stops reading Redis, and before trusting it again asks the store for changesSince(the last version it knew
// reached Redis) and invalidates each of those keys in Redis (the version guard makes that a no-op where Redis is
// already current). Every instance does this for itself, so a repair does not depend on the instance whose
// write failed still being alive. docs/redis.md, "After an outage", says what it covers and what it costs.
import type { Store } from '../store/store.ts';
import type { RedisTier } from '../tiers/redis-tier.ts';
import type { Change } from './record.ts';

/** Changes read from the store per page of a repair. */
export const REPAIR_PAGE = 1000;
/** How often a pending repair checks whether Redis is back, ms (jittered ±50 %). */
const RETRY_MS = 250;

export interface L2RepairOptions {
  readonly l2: RedisTier;
  readonly store: Pick<Store, 'changesSince'>;
  /** False while the invalidation bus may be missing changes (its subscription is down). */
  readonly listening: () => boolean;
  /** Every change a repair reads from the store also goes here (the memory tier drops what is older). */
  readonly onChange: (change: Change) => void;
  readonly onError: (what: string, err: unknown) => void;
}

export class L2Repair {
  readonly #o: L2RepairOptions;
  /** The highest version whose change is known to have reached L2 (own writes, peers' announcements, feed). */
  #reached = 0;
  /** Defined while L2 is not trusted: a repair must cover every change after this version. */
  #from: number | undefined;
  /** Set when #from was lowered while a repair pass ran: the pass must run again. */
  #lowered = false;
  #running = false;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;
  /** Repairs completed and changes they invalidated in L2 (for tests and the report). */
  readonly stats = { repairs: 0, invalidated: 0 };

  constructor(opts: L2RepairOptions) {
    this.#o = opts;
  }

  /** The store's version when this instance started: what happened before is L2's starting point. */
  start(version: number): void {
    this.#reached = Math.max(this.#reached, version);
  }

  /**
   * O(1), on every read that would go to L2: may L2 be read? Not while a repair is pending, nor while the tier
   * or the bus subscription is down; noticing one of those starts a repair from what is known to have reached L2.
   */
  usable(): boolean {
    if (this.#from !== undefined) return false;
    if (this.#o.l2.healthy && this.#o.listening()) return true;
    this.suspect();
    return false;
  }

  /** True while a repair is pending (L2 is skipped). */
  get repairing(): boolean {
    return this.#from !== undefined;
  }

  /** A change is known to be in L2 (written there by this instance, or announced by the one that did). */
  reached(version: number): void {
    if (version > this.#reached) this.#reached = version;
  }

  /** A change committed to the store could not be written to L2: L2 may hold an older copy of its key. */
  missed(version: number): void {
    this.#lower(version - 1);
  }

  /** L2 or the bus was away: changes after the last one known to have reached L2 may be missing from it. */
  suspect(): void {
    this.#lower(this.#reached);
  }

  close(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
  }

  #lower(version: number): void {
    if (this.#closed) return;
    if (this.#from === undefined || version < this.#from) this.#from = Math.max(0, version);
    this.#lowered = true;
    this.#kick();
  }

  #kick(): void {
    if (this.#running || this.#from === undefined || this.#closed) return;
    if (!this.#o.l2.healthy || !this.#o.listening()) {
      this.#timer ??= setTimeout(() => {
        this.#timer = undefined;
        this.#kick();
      }, RETRY_MS * (0.5 + Math.random()));
      this.#timer.unref();
      return;
    }
    this.#running = true;
    this.#repair().then(
      (done) => {
        this.#running = false;
        if (!done) this.#retryLater();
        else this.#kick();
      },
      (err: unknown) => {
        this.#running = false;
        this.#o.onError('redis repair after an outage', err);
        this.#retryLater();
      },
    );
  }

  #retryLater(): void {
    if (this.#closed || this.#timer) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#kick();
    }, RETRY_MS * (0.5 + Math.random()));
    this.#timer.unref();
  }

  /**
   * One pass: invalidate in L2 every change after #from. Resolves true when L2 is trusted again (or another pass
   * is due at once), false when L2 failed midway (retried later from the same point). Rejects on a store error.
   */
  async #repair(): Promise<boolean> {
    const from = this.#from;
    if (from === undefined) return true;
    this.#lowered = false;
    let since = from;
    let invalidated = 0;
    for (;;) {
      const page = await this.#o.store.changesSince(since, REPAIR_PAGE);
      for (const change of page) this.#o.onChange(change);
      try {
        await Promise.all(page.map((change) => this.#o.l2.invalidate(change)));
      } catch {
        return false;
      }
      invalidated += page.length;
      const last = page.at(-1);
      if (last) this.reached(last.version);
      if (page.length < REPAIR_PAGE || !last) break;
      since = last.version;
    }
    this.stats.invalidated += invalidated;
    // Lowered meanwhile (another write failed, the subscription dropped again): run again from there.
    if (this.#lowered || !this.#o.l2.healthy || !this.#o.listening()) return this.#lowered;
    this.#from = undefined;
    this.stats.repairs++;
    return true;
  }
}
