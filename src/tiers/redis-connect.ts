// Opens ioredis clients (standalone or Cluster) that fail fast: no offline queue, a deadline on every command,
// no resends, jittered reconnects. Shared by the Redis tier and the Redis invalidation bus.
import { Cluster, Redis } from 'ioredis';
import type { ClusterOptions, RedisOptions as IORedisOptions } from 'ioredis';

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
    commandTimeout: settings.commandTimeoutMs,
    // A peer that stops answering (half-open TCP, frozen host) is dropped and reconnected.
    socketTimeout: Math.max(1_000, 10 * settings.commandTimeoutMs),
    maxRetriesPerRequest: failFast ? 0 : null,
    autoResendUnfulfilledCommands: !failFast,
    enableAutoPipelining: failFast,
    scripts: settings.scripts,
  };
  if (!target.cluster) {
    const node = target.nodes[0]!;
    return new Redis({
      ...common,
      host: node.host,
      port: node.port,
      db: target.db,
      enableOfflineQueue: !failFast,
      retryStrategy: (attempt) => backoff(attempt),
    });
  }
  const retryDelay = Math.max(5, Math.floor(settings.commandTimeoutMs / (2 * MAX_REDIRECTIONS)));
  const options: ClusterOptions = {
    redisOptions: common,
    enableOfflineQueue: !failFast,
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
  return new Cluster(target.nodes.map((n) => ({ host: n.host, port: n.port })), options);
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
