// State-change log lines, the ones an operator greps for in the middle of a spike or an outage (the table in
// docs/operations.md "Log events"): one JSON line when this process starts answering reads degraded (overload),
// one when it has answered none degraded for a quiet period (with what was shed, by reason, in between), and
// one when a dependency (the store, Redis) is lost or regained. All of it runs on an unref'd timer, off the
// request path: shedding is read from floodgate_degraded_total, dependencies are pinged. Rate-limited: an
// overload is one start line, one end line and at most one "ongoing" line a minute; a flapping dependency is at
// most one line per minGapMs, which counts the flaps it held back.
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';

export interface StateLogOptions {
  readonly logger: Logger;
  readonly registry: Registry;
  /** Named dependency checks, each rejecting while the dependency is unusable. */
  readonly dependencies: Readonly<Record<string, () => Promise<void>>>;
  /** Between samples, ms. */
  readonly tickMs?: number;
  /** An overload ends after this long without a degraded answer, ms. */
  readonly quietMs?: number;
  /** While overloaded, a summary line this often, ms. */
  readonly ongoingMs?: number;
  /** At most one line per dependency this often, ms. */
  readonly minGapMs?: number;
  /** A dependency check that has not answered in this long has failed, ms. */
  readonly checkTimeoutMs?: number;
  readonly now?: () => number;
}

export const STATE_LOG_DEFAULTS = { tickMs: 1000, quietMs: 5000, ongoingMs: 60_000, minGapMs: 5000, checkTimeoutMs: 1000 } as const;

interface DependencyState {
  up: boolean | undefined;
  logged: boolean | undefined;
  loggedAt: number;
  since: number;
  flaps: number;
  error: string;
}

export class StateLog {
  readonly #o: Required<Omit<StateLogOptions, 'logger' | 'registry' | 'dependencies' | 'now'>> & StateLogOptions;
  readonly #now: () => number;
  readonly #deps = new Map<string, DependencyState>();
  #timer: NodeJS.Timeout | undefined;
  #ticking = false;
  /** Degraded answers by reason as last read from the counter. */
  #seen = new Map<string, number>();
  #overload: { since: number; lastShedAt: number; lastOngoingAt: number; shed: Map<string, number> } | undefined;

  constructor(opts: StateLogOptions) {
    this.#o = { ...STATE_LOG_DEFAULTS, ...opts };
    this.#now = opts.now ?? Date.now;
    for (const name of Object.keys(opts.dependencies)) this.#deps.set(name, { up: undefined, logged: undefined, loggedAt: -Infinity, since: 0, flaps: 0, error: '' });
  }

  /** Samples every tickMs until stop(). */
  start(): this {
    this.#timer = setInterval(() => void this.tick(), this.#o.tickMs);
    this.#timer.unref();
    void this.tick();
    return this;
  }

  stop(): void {
    clearInterval(this.#timer);
  }

  /** Whether a dependency answered its last check (undefined before the first); feeds floodgate_dependency_up. */
  isUp(name: string): boolean | undefined {
    return this.#deps.get(name)?.up;
  }

  /** One sample: shedding since the last one, and every dependency's check. */
  async tick(): Promise<void> {
    if (this.#ticking) return;
    this.#ticking = true;
    try {
      await Promise.all([this.#sampleShedding(), ...[...this.#deps.keys()].map((name) => this.#checkDependency(name))]);
    } finally {
      this.#ticking = false;
    }
  }

  async #sampleShedding(): Promise<void> {
    const metric = this.#o.registry.getSingleMetric('floodgate_degraded_total');
    const now = this.#now();
    const totals = new Map<string, number>();
    if (metric) {
      for (const v of (await metric.get()).values) {
        const reason = String(v.labels['reason'] ?? 'unknown');
        totals.set(reason, (totals.get(reason) ?? 0) + v.value);
      }
    }
    const delta = new Map<string, number>();
    let shed = 0;
    for (const [reason, n] of totals) {
      const before = this.#seen.get(reason) ?? 0;
      const d = n >= before ? n - before : n; // below what was seen: the counter was reset (after the warm-up)
      if (d > 0) {
        delta.set(reason, d);
        shed += d;
      }
    }
    this.#seen = totals;
    const log = this.#o.logger;
    if (shed > 0) {
      if (this.#overload === undefined) {
        this.#overload = { since: now, lastShedAt: now, lastOngoingAt: now, shed: new Map() };
        log.warn({ event: 'overload-start', shed: Object.fromEntries(delta) }, 'overload: reads are being answered degraded (stale, fallback or 503)');
      }
      const o = this.#overload;
      o.lastShedAt = now;
      for (const [reason, d] of delta) o.shed.set(reason, (o.shed.get(reason) ?? 0) + d);
      if (now - o.lastOngoingAt >= this.#o.ongoingMs) {
        o.lastOngoingAt = now;
        log.warn({ event: 'overload-ongoing', forMs: now - o.since, shed: Object.fromEntries(o.shed) }, 'overload continues');
      }
    } else if (this.#overload !== undefined && now - this.#overload.lastShedAt >= this.#o.quietMs) {
      const o = this.#overload;
      this.#overload = undefined;
      log.info({ event: 'overload-end', forMs: o.lastShedAt - o.since, shed: Object.fromEntries(o.shed) }, 'overload over: reads are answered normally again');
    }
  }

  async #checkDependency(name: string): Promise<void> {
    const check = this.#o.dependencies[name];
    const d = this.#deps.get(name);
    if (check === undefined || d === undefined) return;
    let up = true;
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([check(), new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`no answer within ${this.#o.checkTimeoutMs} ms`)), this.#o.checkTimeoutMs)))]);
    } catch (err) {
      up = false;
      d.error = (err as Error).message;
    } finally {
      clearTimeout(timer);
    }
    const now = this.#now();
    if (d.up !== undefined && up !== d.up) d.flaps++;
    if (up !== d.up) d.since = now;
    d.up = up;
    // Said when it differs from what was last said (a first check that finds it up says nothing), at most once per gap.
    const first = d.logged === undefined;
    if (up === d.logged || (first && up) || now - d.loggedAt < this.#o.minGapMs) {
      if (first && up) d.logged = true;
      return;
    }
    const changes = Math.max(0, d.flaps - 1);
    d.flaps = 0;
    d.loggedAt = now;
    d.logged = up;
    const log = this.#o.logger;
    if (up) log.info({ event: 'dependency-regained', dependency: name, ...(changes > 0 ? { flaps: changes } : {}) }, `${name} is reachable again`);
    else log.warn({ event: 'dependency-lost', dependency: name, error: d.error, ...(changes > 0 ? { flaps: changes } : {}) }, `${name} is unreachable`);
  }
}
