// The L2 tier on Redis, standalone or Cluster (key layout and scripts: redis-keys.ts; docs/redis.md).
// Every call either answers within the command deadline or rejects with TierUnavailableError; nothing queues
// while Redis is away, and the client reconnects by itself.
import type { Change, ContentRecord } from '../content/record.ts';
import { TierUnavailableError, type RedisTier } from './redis-tier.ts';
import {
  checkKeyPrefix, createClient, DEFAULTS, failFast, parseRedisUrl, positive, type RedisClient, type RedisOptions,
} from './redis-connect.ts';
import { RedisHealth } from './redis-health.ts';
import { etagNumberOfRecord } from '../content/read-result.ts';
import { decodeMeta, encodeMeta, jitteredTtlMs, READ_FIELDS, recordKey, SCRIPTS } from './redis-keys.ts';

export type { RedisOptions } from './redis-connect.ts';

/** The commands defineCommand adds (ioredis types them as any). */
interface ScriptCommands {
  fgSet(key: string, version: string, body: Buffer, meta: Buffer, ttlMs: string): Promise<number>;
  fgInvalidate(key: string, version: string, deleted: '0' | '1', ttlMs: string): Promise<number>;
}

export function openRedisTier(opts: RedisOptions): RedisTier {
  return new IoredisTier(opts);
}

class IoredisTier implements RedisTier {
  readonly name: string;
  readonly #prefix: string;
  readonly #tombstoneTtlSeconds: number;
  readonly #client: RedisClient;
  readonly #scripts: ScriptCommands;
  readonly #health: RedisHealth;

  constructor(opts: RedisOptions) {
    const target = parseRedisUrl(opts.url);
    this.name = target.cluster ? 'redis-cluster' : 'redis';
    this.#prefix = checkKeyPrefix(opts.keyPrefix ?? DEFAULTS.keyPrefix);
    this.#tombstoneTtlSeconds = positive('tombstoneTtlSeconds', opts.tombstoneTtlSeconds ?? DEFAULTS.tombstoneTtlSeconds);
    const commandTimeoutMs = positive('commandTimeoutMs', opts.commandTimeoutMs ?? DEFAULTS.commandTimeoutMs);
    this.#client = createClient(target, {
      commandTimeoutMs,
      scripts: SCRIPTS,
      connectionName: 'floodgate-tier',
    });
    // Connection errors surface as rejected calls and as `healthy`; without a listener ioredis would log them.
    this.#client.on('error', () => undefined);
    this.#scripts = this.#client as unknown as ScriptCommands;
    this.#health = new RedisHealth(this.#client);
  }

  get healthy(): boolean {
    return this.#health.healthy;
  }

  async get(collection: string, key: string): Promise<ContentRecord | undefined> {
    const [body, meta] = await this.#call(() => this.#client.hmgetBuffer(recordKey(this.#prefix, collection, key), ...READ_FIELDS));
    if (!body || !meta) return undefined; // a miss, a tombstone or a marker
    const m = decodeMeta(meta);
    if (m === undefined) return undefined;
    return { collection, key, body: ownBytes(body), contentType: m.contentType, version: m.version, updatedAt: m.updatedAt, etag: m.etag };
  }

  async set(record: ContentRecord, ttlSeconds: number): Promise<void> {
    if (ttlSeconds <= 0) return; // expired on arrival: nothing to store
    const ttlMs = String(jitteredTtlMs(positive('ttlSeconds', ttlSeconds)));
    await this.#call(() => this.#scripts.fgSet(
      recordKey(this.#prefix, record.collection, record.key),
      String(record.version),
      record.body,
      encodeMeta(etagNumberOfRecord(record), record.version, record.updatedAt, record.contentType),
      ttlMs,
    ));
  }

  async invalidate(change: Change): Promise<void> {
    await this.#call(() => this.#scripts.fgInvalidate(
      recordKey(this.#prefix, change.collection, change.key),
      String(change.version),
      change.deleted ? '1' : '0',
      String(jitteredTtlMs(this.#tombstoneTtlSeconds)),
    ));
  }

  async ping(): Promise<void> {
    await this.#call(() => this.#client.ping());
  }

  async close(): Promise<void> {
    this.#health.close();
    try {
      await this.#client.quit();
    } catch {
      this.#client.disconnect();
    }
  }

  /** Runs one command, unless the client is not connected: then it rejects at once, without queueing. */
  async #call<T>(command: () => Promise<T>): Promise<T> {
    try {
      const value = await failFast(this.#client, command);
      this.#health.success();
      return value;
    } catch (err) {
      this.#health.failure();
      throw new TierUnavailableError(this.name, err);
    }
  }
}

/**
 * The parser hands out views into the socket's read chunk (up to 64 KiB shared by a whole pipelined batch);
 * a body kept in L1 must not pin that chunk, so copy unless the view is the whole allocation.
 */
function ownBytes(view: Buffer): Buffer {
  return view.byteLength === view.buffer.byteLength ? view : Buffer.from(view);
}
