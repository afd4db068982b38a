// Opens ioredis clients (standalone or Cluster) that fail fast: no offline queue, a deadline on every command,
// no resends, jittered reconnects. Shared by the Redis tier and the Redis invalidation bus.
//
// The deadline is a stall watchdog, not ioredis's commandTimeout: that option arms and clears a timer per command,
// which measured 1.5-1.8 µs of CPU per request and 9-12 % of the req/s of a raw node:http + ioredis HGET server
// (58,469-59,546 vs 65,974-66,474 req/s, 14.2-14.4 vs 15.9-16.0 µs/req, pinned, alternating; bench/raw-server.ts).
// A connection answers in order, so a command cannot be answered before the one at the head of its queue: one
// interval timer per client looks at each connection's oldest unanswered command, and once that one has waited
// the deadline, every command queued behind it is rejected too (they would be later still). Commands sent while
// the head stays stuck are rejected at the next sweep, so a stalled Redis costs a read one sweep, not a deadline.
// The connection stays: when Redis answers again the head goes, and the next commands are answered as before.
import { Cluster, Redis } from 'ioredis';
import type { ClusterOptions, RedisOptions as IORedisOptions } from 'ioredis';
import type { Socket as NetSocket } from 'node:net';

export interface RedisOptions {
  /**
   * 'redis://[user:pass@]host:port[/db]' (or rediss:// for TLS): standalone. Several comma-separated URLs, or
   * one 'redis+cluster://host:port' (rediss+cluster:// for TLS): Redis Cluster, seeded from those nodes.
   * Or the list parsed once already (parseRedisUrl), when the tier and the bus share it.
   */
  readonly url: string | ParsedRedisUrl;
  /** Prefix of every key and of the pub/sub channel; no braces (they would pin every key to one slot). Default 'fg:'. */
  readonly keyPrefix?: string;
  /** Deadline of one command (ms); a slower or absent Redis makes the call reject. Default 100. */
  readonly commandTimeoutMs?: number;
  /** How long a deletion tombstone or invalidation marker outlives the change (s). Default 30. */
  readonly tombstoneTtlSeconds?: number;
}

export const DEFAULTS = {
  keyPrefix: 'fg:',
  commandTimeoutMs: 100, // ms
  tombstoneTtlSeconds: 30, // s
  connectTimeoutMs: 1_000, // ms: a TCP connect + handshake slower than this is retried
  backoffBaseMs: 50, // ms: first reconnect delay, doubled per attempt
  backoffMaxMs: 1_000, // ms: reconnect delay cap (jittered down to half of it)
} as const;

export interface Endpoint {
  readonly host: string;
  readonly port: number;
}

export interface ParsedRedisUrl {
  readonly cluster: boolean;
  readonly nodes: readonly Endpoint[];
  readonly username: string | undefined;
  readonly password: string | undefined;
  readonly db: number;
  readonly tls: boolean;
}

const PROTOCOLS: Record<string, { cluster: boolean; tls: boolean }> = {
  'redis:': { cluster: false, tls: false },
  'rediss:': { cluster: false, tls: true },
  'redis+cluster:': { cluster: true, tls: false },
  'rediss+cluster:': { cluster: true, tls: true },
};

/** Parses RedisOptions.url (a parsed one is returned as it is); throws a TypeError naming the problem (never echoing a password). */
export function parseRedisUrl(url: string | ParsedRedisUrl): ParsedRedisUrl {
  if (typeof url !== 'string') return url;
  const parts = url.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
  if (parts.length === 0) throw new TypeError('the Redis URL is empty');
  const parsed = parts.map((part, i) => {
    let u: URL;
    try {
      u = new URL(part);
    } catch {
      throw new TypeError(`Redis URL #${i + 1} is not a URL (expected redis://host:port)`);
    }
    const protocol = PROTOCOLS[u.protocol];
    if (!protocol) throw new TypeError(`Redis URL #${i + 1} has protocol ${u.protocol}; expected redis:, rediss: or redis+cluster:`);
    if (u.hostname === '') throw new TypeError(`Redis URL #${i + 1} has no host`);
    const path = u.pathname.replace(/^\//, '');
    if (path !== '' && !/^\d+$/.test(path)) throw new TypeError(`Redis URL #${i + 1} has path "/${path}"; only a database number may follow the host`);
    return {
      ...protocol,
      host: u.hostname.replace(/^\[(.*)\]$/, '$1'),
      port: u.port === '' ? 6379 : Number(u.port),
      username: u.username === '' ? undefined : decodeURIComponent(u.username),
      password: u.password === '' ? undefined : decodeURIComponent(u.password),
      db: path === '' ? 0 : Number(path),
    };
  });
  const first = parsed[0]!;
  const cluster = parsed.length > 1 || parsed.some((p) => p.cluster);
  if (parsed.some((p) => p.tls !== first.tls)) throw new TypeError('the Redis URLs mix TLS and plain connections');
  if (cluster && parsed.some((p) => p.db !== 0)) throw new TypeError('Redis Cluster has only database 0');
  return {
    cluster,
    nodes: parsed.map(({ host, port }) => ({ host, port })),
    username: first.username,
    password: first.password,
    db: first.db,
    tls: first.tls,
  };
}

/** Exponential back-off with "equal jitter": half the delay fixed, half random, so reconnects don't line up. */
export function backoff(attempt: number, random: () => number = Math.random): number {
  const ceiling = Math.min(DEFAULTS.backoffMaxMs, DEFAULTS.backoffBaseMs * 2 ** Math.min(attempt - 1, 16));
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}

export function checkKeyPrefix(prefix: string): string {
  if (/[{}]/.test(prefix)) throw new TypeError(`the Redis key prefix "${prefix}" contains a brace; hash tags belong to the tier`);
  return prefix;
}

export type RedisClient = Redis | Cluster;

/** Cluster: MOVED/ASK/TRYAGAIN/CLUSTERDOWN/closed-connection retries per command (ioredis default 16). */
const MAX_REDIRECTIONS = 5;

export interface ClientSettings {
  readonly commandTimeoutMs: number;
  /** Lua commands to register (EVALSHA with an EVAL fallback on NOSCRIPT). */
  readonly scripts?: Record<string, { lua: string; numberOfKeys: number }>;
  /** The subscriber connection queues SUBSCRIBE until it is connected, and resubscribes after reconnects. */
  readonly subscriber?: boolean;
  readonly connectionName: string;
}

/** A client that never waits for Redis: commands reject at once while disconnected, or at the deadline. */
export function createClient(target: ParsedRedisUrl, settings: ClientSettings): RedisClient {
  const failFast = !settings.subscriber;
  const common: IORedisOptions = {
    username: target.username,
    password: target.password,
    tls: target.tls ? {} : undefined,
    connectionName: settings.connectionName,
    connectTimeout: DEFAULTS.connectTimeoutMs,
    // The subscriber keeps ioredis's per-command timer (it sends a handful of commands); the others are watched.
    commandTimeout: failFast ? undefined : settings.commandTimeoutMs,
    // A peer that stops answering (half-open TCP, frozen host) is dropped and reconnected.
    socketTimeout: Math.max(1_000, 10 * settings.commandTimeoutMs),
    maxRetriesPerRequest: failFast ? 0 : null,
    autoResendUnfulfilledCommands: !failFast,
    scripts: settings.scripts,
  };
  if (!target.cluster) {
    const node = target.nodes[0]!;
    const client = watched(failFast, settings.commandTimeoutMs, new Redis({
      ...common,
      // Not ioredis's auto-pipelining: writes are coalesced per loop iteration instead (coalesceWrites).
      enableAutoPipelining: false,
      host: node.host,
      port: node.port,
      db: target.db,
      enableOfflineQueue: !failFast,
      retryStrategy: (attempt) => backoff(attempt),
    }));
    return failFast ? coalesceWrites(client) : client;
  }
  const retryDelay = Math.max(5, Math.floor(settings.commandTimeoutMs / (2 * MAX_REDIRECTIONS)));
  const options: ClusterOptions = {
    redisOptions: common,
    enableOfflineQueue: !failFast,
    // A Cluster client's commands go to many connections; ioredis groups them per node.
    enableAutoPipelining: failFast,
    scripts: settings.scripts,
    clusterRetryStrategy: (attempt) => backoff(attempt),
    // A restarted node keeps its slots: reconnect to it rather than wait for a MOVED.
    clusterNodeRetryStrategy: (attempt) => backoff(attempt),
    slotsRefreshTimeout: DEFAULTS.connectTimeoutMs,
    slotsRefreshInterval: 5_000,
    // A command whose node is gone or whose slot moved is retried up to maxRedirections times, each after one
    // of these delays; keep the whole loop within about one command deadline.
    maxRedirections: MAX_REDIRECTIONS,
    retryDelayOnFailover: retryDelay,
    retryDelayOnClusterDown: retryDelay,
    retryDelayOnTryAgain: retryDelay,
  };
  return watched(failFast, settings.commandTimeoutMs, new Cluster(target.nodes.map((n) => ({ host: n.host, port: n.port })), options));
}

/** What the watchdog reads of an ioredis connection: its queue of sent, unanswered commands (ioredis internals). */
interface QueuedCommand { readonly command: { readonly isSettled?: boolean; reject(err: Error): void } }
interface CommandQueue { readonly length: number; peekAt(i: number): QueuedCommand | undefined }
interface Watched { head: QueuedCommand | undefined; since: number }

/**
 * The command deadline of a fail-fast client (see the top of this file). Sweeps every deadline / 20 (at least
 * 2 ms, at most 50 ms), so a command is rejected between its deadline and one sweep after it. Stops when the
 * client ends for good (quit or disconnect).
 */
export class StallWatch {
  readonly #client: RedisClient;
  readonly #deadlineMs: number;
  readonly #now: () => number;
  readonly #seen = new WeakMap<object, Watched>();
  readonly #timer: NodeJS.Timeout | undefined;
  /** Commands rejected at their deadline so far. */
  rejected = 0;

  constructor(client: RedisClient, deadlineMs: number, opts: { now?: () => number; sweepMs?: number } = {}) {
    this.#client = client;
    this.#deadlineMs = deadlineMs;
    this.#now = opts.now ?? (() => performance.now());
    const sweepMs = opts.sweepMs ?? Math.min(50, Math.max(2, Math.floor(deadlineMs / 20)));
    if (sweepMs > 0) {
      this.#timer = setInterval(() => this.sweep(), sweepMs);
      this.#timer.unref();
      client.once('end', () => clearInterval(this.#timer));
    }
  }

  /** Rejects what waits behind a head that has gone unanswered for the deadline, on every connection of the client. */
  sweep(): void {
    const now = this.#now();
    const client = this.#client;
    if (client instanceof Cluster) for (const node of client.nodes('all')) this.#sweepOne(node, now);
    else this.#sweepOne(client, now);
  }

  #sweepOne(connection: Redis, now: number): void {
    const queue = (connection as unknown as { commandQueue?: CommandQueue }).commandQueue;
    const head = queue?.peekAt(0);
    if (queue === undefined || head === undefined) {
      this.#seen.delete(connection);
      return;
    }
    const w = this.#seen.get(connection);
    if (w === undefined || w.head !== head) {
      this.#seen.set(connection, { head, since: now });
      return;
    }
    if (now - w.since < this.#deadlineMs) return;
    for (let i = 0; i < queue.length; i++) {
      const c = queue.peekAt(i)?.command;
      if (c === undefined || c.isSettled === true) continue;
      c.reject(new Error(`Command timed out: Redis has not answered for ${Math.round(now - w.since)} ms`));
      this.rejected++;
    }
  }

  close(): void {
    clearInterval(this.#timer);
  }
}

/**
 * Every command a standalone client sends in one event-loop iteration leaves in one write: the first one corks
 * the connection's socket and a setImmediate (the check phase, right after the poll phase that read the
 * requests) uncorks it, so the commands go out as one writev. Without it each command is its own write system
 * call; ioredis's auto-pipelining batches too, but it keeps one batch in flight per connection (the next waits
 * for the previous one's replies) and builds a Pipeline and a nextTick per command. Measured on the cold Redis
 * read path (docs/design-notes.md, "Redis: one write per loop iteration").
 */
export function coalesceWrites(client: Redis): Redis {
  const send = client.sendCommand.bind(client);
  let corked: NetSocket | undefined;
  const uncork = (): void => {
    const s = corked;
    corked = undefined;
    s?.uncork();
  };
  client.sendCommand = (command, stream) => {
    if (corked === undefined && stream === undefined && client.status === 'ready') {
      const s = client.stream as NetSocket | undefined;
      if (s !== undefined && s.writable) {
        s.cork();
        corked = s;
        setImmediate(uncork);
      }
    }
    return send(command, stream);
  };
  return client;
}

function watched<C extends RedisClient>(failFast: boolean, deadlineMs: number, client: C): C {
  if (failFast) new StallWatch(client, deadlineMs);
  return client;
}

/**
 * Sends the command only while the client is connected. ioredis already rejects at once when a standalone
 * client is disconnected, but a Cluster client that never reached any node holds commands until its next
 * connection attempt (up to the back-off cap): checking the status here makes both fail in microseconds.
 */
export function failFast<T>(client: RedisClient, command: () => Promise<T>): Promise<T> {
  if (client.status !== 'ready') return Promise.reject(new Error(`Redis is not connected (${client.status})`));
  return command();
}

export function positive(name: string, value: number): number {
  if (!Number.isFinite(value) || value <= 0) throw new RangeError(`${name} must be a positive number, got ${value}`);
  return value;
}
