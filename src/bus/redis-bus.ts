// The invalidation bus on Redis pub/sub: PUBLISH on the fail-fast client, SUBSCRIBE on a dedicated connection
// (redis-subscriber.ts). Channel `<prefix>invalidate`; message = the Change as compact JSON. In Cluster mode
// plain PUBLISH, which the cluster broadcasts to every node (docs/redis.md says why not sharded pub/sub).
import { Cluster } from 'ioredis';
import type { Change } from '../content/record.ts';
import type { InvalidationBus } from './bus.ts';
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

/** The Change in a message, or undefined when the message is not one (another writer on the channel). */
export function decodeChange(payload: string): Change | undefined {
  let v: unknown;
  try {
    v = JSON.parse(payload);
  } catch {
    return undefined;
  }
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

  async close(): Promise<void> {
    this.#closed = true;
    this.#handlers.clear();
    this.#resyncListeners.clear();
    await Promise.all([
      this.#sub?.close(),
      this.#pub.quit().catch(() => this.#pub.disconnect()),
    ]);
  }

  #deliver(payload: string): void {
    const change = decodeChange(payload);
    if (change) this.#notify(this.#handlers, change);
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
