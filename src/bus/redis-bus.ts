// The invalidation bus on Redis pub/sub: PUBLISH on the fail-fast client, SUBSCRIBE on a dedicated connection
// (redis-subscriber.ts). Channel `<prefix>invalidate`; message = the Change as compact JSON. In Cluster mode
// plain PUBLISH, which the cluster broadcasts to every node (docs/redis.md says why not sharded pub/sub).
import { Cluster } from 'ioredis';
import type { Change } from '../content/record.ts';
import type { InvalidationBus, WarmNotice } from './bus.ts';
import {
  checkKeyPrefix, createClient, DEFAULTS, failFast, parseRedisUrl, positive, type Endpoint, type ParsedRedisUrl,
  type RedisClient, type RedisOptions,
} from '../tiers/redis-connect.ts';
import { channelName } from '../tiers/redis-keys.ts';
import { ChannelSubscriber } from './redis-subscriber.ts';

export interface RedisInvalidationBus extends InvalidationBus {
  /** True while the subscriber connection holds the channel (false before the first subscribe()). */
  readonly subscribed: boolean;
  onResync(listener: () => void): void;
  announceWarm(notice: WarmNotice): Promise<void>;
  onWarm(handler: (notice: WarmNotice) => void): void;
}

export function openRedisBus(opts: RedisOptions): RedisInvalidationBus {
  return new RedisBus(opts);
}

/** The wire form: exactly the Change's four fields, in a fixed order. */
export function encodeChange(change: Change): string {
  return JSON.stringify({
    collection: change.collection, key: change.key, version: change.version, deleted: change.deleted,
  });
}

/**
 * A warm notice shares the channel: {"warm":{"i":instance,"c":collection,"k":[keys]}}. A floodgate that predates it
 * reads no Change in it and ignores it.
 */
export function encodeWarm(notice: WarmNotice): string {
  return JSON.stringify({ warm: { i: notice.instance, c: notice.collection, k: notice.keys } });
}

/** The Change in a message, or undefined when the message is not one (another writer on the channel). */
export function decodeChange(payload: string): Change | undefined {
  const v = parse(payload);
  return v === undefined ? undefined : changeOf(v);
}

/** The WarmNotice in a message, or undefined when it is not one. */
export function decodeWarm(payload: string): WarmNotice | undefined {
  const v = parse(payload);
  return v === undefined ? undefined : warmOf(v);
}

function parse(payload: string): unknown {
  try {
    return JSON.parse(payload);
  } catch {
    return undefined;
  }
}

function warmOf(v: unknown): WarmNotice | undefined {
  const w = typeof v === 'object' && v !== null ? (v as { warm?: unknown }).warm : undefined;
  if (typeof w !== 'object' || w === null) return undefined;
  const { i, c, k } = w as Record<string, unknown>;
  if (typeof i !== 'string' || typeof c !== 'string' || !Array.isArray(k) || !k.every((key) => typeof key === 'string')) return undefined;
  return { instance: i, collection: c, keys: k as string[] };
}

function changeOf(v: unknown): Change | undefined {
  if (typeof v !== 'object' || v === null) return undefined;
  const { collection, key, version, deleted } = v as Record<string, unknown>;
  if (typeof collection !== 'string' || typeof key !== 'string' || typeof deleted !== 'boolean') return undefined;
  if (typeof version !== 'number' || !Number.isSafeInteger(version)) return undefined;
  return { collection, key, version, deleted };
}

class RedisBus implements RedisInvalidationBus {
  readonly #target: ParsedRedisUrl;
  readonly #channel: string;
  readonly #pub: RedisClient;
  readonly #handlers = new Set<(change: Change) => void>();
  readonly #resyncListeners = new Set<() => void>();
  readonly #warmHandlers = new Set<(notice: WarmNotice) => void>();
  #sub: ChannelSubscriber | undefined;
  #closed = false;

  constructor(opts: RedisOptions) {
    this.#target = parseRedisUrl(opts.url);
    this.#channel = channelName(checkKeyPrefix(opts.keyPrefix ?? DEFAULTS.keyPrefix));
    const commandTimeoutMs = positive('commandTimeoutMs', opts.commandTimeoutMs ?? DEFAULTS.commandTimeoutMs);
    this.#pub = createClient(this.#target, { commandTimeoutMs, connectionName: 'floodgate-bus' });
    this.#pub.on('error', () => undefined);
  }

  get subscribed(): boolean {
    return this.#sub?.subscribed ?? false;
  }

  async publish(change: Change): Promise<void> {
    await failFast(this.#pub, () => this.#pub.publish(this.#channel, encodeChange(change)));
  }

  subscribe(handler: (change: Change) => void): void {
    if (this.#closed) throw new Error('the Redis bus is closed');
    this.#handlers.add(handler);
    this.#sub ??= new ChannelSubscriber(this.#target, this.#channel, {
      message: (payload) => this.#deliver(payload),
      resubscribed: () => this.#notify(this.#resyncListeners, undefined),
    }, () => this.#knownNodes());
  }

  onResync(listener: () => void): void {
    this.#resyncListeners.add(listener);
  }

  async announceWarm(notice: WarmNotice): Promise<void> {
    await failFast(this.#pub, () => this.#pub.publish(this.#channel, encodeWarm(notice)));
  }

  /** Heard on the invalidation channel's subscription (subscribe() opens it; the service always subscribes). */
  onWarm(handler: (notice: WarmNotice) => void): void {
    this.#warmHandlers.add(handler);
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#handlers.clear();
    this.#resyncListeners.clear();
    this.#warmHandlers.clear();
    await Promise.all([
      this.#sub?.close(),
      this.#pub.quit().catch(() => this.#pub.disconnect()),
    ]);
  }

  #deliver(payload: string): void {
    const v = parse(payload);
    const change = changeOf(v);
    if (change) {
      this.#notify(this.#handlers, change);
      return;
    }
    const warm = this.#warmHandlers.size > 0 ? warmOf(v) : undefined;
    if (warm) this.#notify(this.#warmHandlers, warm);
  }

  /** Calls every listener; one that throws does not starve the others (its error becomes a process warning). */
  #notify<A>(listeners: Set<(arg: A) => void>, arg: A): void {
    for (const listener of listeners) {
      try {
        listener(arg);
      } catch (err) {
        process.emitWarning(err instanceof Error ? err : new Error(String(err)), 'FloodgateBusListenerError');
      }
    }
  }

  /** Cluster: every node the publisher's client has discovered, so the subscriber can move off a dead seed. */
  #knownNodes(): readonly Endpoint[] {
    if (!(this.#pub instanceof Cluster)) return [];
    return this.#pub.nodes('all').flatMap((n) => {
      const { host, port } = n.options;
      return host !== undefined && port !== undefined ? [{ host, port }] : [];
    });
  }
}
