// The PostgreSQL change feed: LISTEN on the schema's channel over a dedicated connection, and on every (re)listen
// first replay changesSince(last seen) so nothing committed while the listener was away is missed.
//
// postgres.js's own sql.listen() re-listens after a dropped connection, but gives up for good if that one
// attempt fails (the server still restarting). This listener retries with jittered back-off until stopped.
import postgres from 'postgres';
import type { Change } from '../content/record.ts';
import { mapPgError } from './pg-errors.ts';
import type { ChangeFeed, FeedLag } from './store.ts';

export interface WatchDeps {
  readonly url: string;
  readonly options: postgres.Options<Record<string, postgres.PostgresType>>;
  readonly channel: string;
  readonly store: {
    changesSince(since: number, limit: number): Promise<Change[]>;
    maxVersion(): Promise<number>;
    /** The newest version, the write time (epoch ms, the store's clock) of the oldest change after `since` (undefined: none), the store's clock now. */
    lagAfter(since: number): Promise<{ newest: number; oldest: number | undefined; now: number }>;
  };
}

/**
 * Versions are taken from a sequence before commit, so a transaction that took version 10 may commit after one
 * that took 11. A replay after a reconnect therefore starts this many versions before the last one seen; the
 * changes already delivered are recognised and skipped.
 */
const REPLAY_OVERLAP = 1000;
const REPLAY_PAGE = 1000;
const RECENT_LIMIT = 10_000;
const BACKOFF_MAX_MS = 5000;

export async function startWatch(deps: WatchDeps, onChange: (change: Change) => void): Promise<ChangeFeed> {
  const feed = new Feed(deps, onChange, await deps.store.maxVersion());
  await feed.start();
  return { stop: () => feed.stop(), behind: () => feed.behind() };
}

class Feed {
  #deps: WatchDeps;
  #onChange: (change: Change) => void;
  #sql: postgres.Sql;
  /** Highest version delivered; replays start from here (minus the overlap after the first listen). */
  #lastSeen: number;
  #listenedOnce = false;
  /** Recently delivered versions, oldest first, to skip replayed duplicates. */
  #recent = new Set<number>();
  #stopped = false;
  #busy = false;
  #needListen = true;
  #attempt = 0;
  #timer: NodeJS.Timeout | undefined;

  constructor(deps: WatchDeps, onChange: (change: Change) => void, since: number) {
    this.#deps = deps;
    this.#onChange = onChange;
    this.#lastSeen = since;
    this.#sql = postgres(deps.url, {
      ...deps.options,
      max: 1,
      idle_timeout: 0, // never: 0 disables postgres.js's idle and lifetime timers
      max_lifetime: 0, // a listener must not be recycled: it would miss notifications while away
      fetch_types: false,
      onclose: () => this.#lost(),
      ...({ onnotify: (_channel: string, payload: string) => this.#notified(payload) } as object),
    });
  }

  /** Resolves once listening (and caught up); rejects if the first LISTEN fails. */
  async start(): Promise<void> {
    this.#busy = true;
    try {
      await this.#listen();
    } catch (err) {
      this.#stopped = true;
      await this.#sql.end({ timeout: 0 });
      throw mapPgError(err, 'starting the change feed');
    } finally {
      this.#busy = false;
    }
    if (this.#needListen) this.#schedule();
  }

  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#sql.end({ timeout: 1 });
  }

  /**
   * How far behind: asked of the store, in its own clock (no comparison of two hosts' clocks), so a feed that is
   * cut off, reconnecting or replaying shows its lag growing as soon as anyone writes; 0 and 0 when caught up.
   */
  async behind(): Promise<FeedLag> {
    const since = this.#lastSeen;
    const { newest, oldest, now } = await this.#deps.store.lagAfter(since);
    return { seconds: oldest === undefined ? 0 : Math.max(0, now - oldest) / 1000, versions: Math.max(0, newest - since) };
  }

  async #listen(): Promise<void> {
    this.#needListen = false;
    await this.#sql.unsafe(`LISTEN "${this.#deps.channel}"`);
    const from = this.#listenedOnce ? Math.max(0, this.#lastSeen - REPLAY_OVERLAP) : this.#lastSeen;
    this.#listenedOnce = true;
    await this.#replay(from);
    this.#attempt = 0;
  }

  async #replay(from: number): Promise<void> {
    let since = from;
    for (;;) {
      const page = await this.#deps.store.changesSince(since, REPLAY_PAGE);
      for (const change of page) this.#deliver(change);
      const last = page.at(-1);
      if (page.length < REPLAY_PAGE || !last) return;
      since = last.version;
    }
  }

  #notified(payload: string): void {
    let msg: Partial<Change> & { truncated?: boolean };
    try {
      msg = JSON.parse(payload) as typeof msg;
    } catch {
      msg = { truncated: true };
    }
    if (msg.truncated === true || typeof msg.collection !== 'string' || typeof msg.key !== 'string' || typeof msg.version !== 'number') {
      this.#lost(); // not a whole change (oversized, TRUNCATE): catch up from the table instead
      return;
    }
    this.#deliver({ collection: msg.collection, key: msg.key, version: msg.version, deleted: msg.deleted === true });
  }

  #deliver(change: Change): void {
    if (this.#stopped || this.#recent.has(change.version)) return;
    this.#recent.add(change.version);
    if (this.#recent.size > RECENT_LIMIT) this.#recent.delete(this.#recent.values().next().value as number);
    if (change.version > this.#lastSeen) this.#lastSeen = change.version;
    try {
      this.#onChange(change);
    } catch (err) {
      // A subscriber's bug must not stop the feed for everyone else.
      process.emitWarning(`floodgate change feed: onChange threw: ${String(err)}`, 'FloodgateWarning');
    }
  }

  /** The connection closed, or a notification asked for a catch-up: listen again and replay. */
  #lost(): void {
    this.#needListen = true;
    this.#schedule();
  }

  #schedule(): void {
    if (this.#stopped || this.#busy || this.#timer) return;
    const delay = this.#attempt === 0 ? 0 : Math.min(BACKOFF_MAX_MS, 100 * 2 ** this.#attempt) * (0.5 + Math.random() / 2);
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      void this.#retry();
    }, delay);
    this.#timer.unref();
  }

  async #retry(): Promise<void> {
    if (this.#stopped || this.#busy) return;
    this.#busy = true;
    try {
      await this.#listen();
    } catch {
      this.#needListen = true;
      this.#attempt++;
    } finally {
      this.#busy = false;
    }
    if (this.#needListen) this.#schedule();
  }
}
