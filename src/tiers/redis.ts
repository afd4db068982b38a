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

/**
 * Commands of a getMany/setMany sent together, each part awaited before the next: every command keeps the tier's
 * deadline (100 ms by default), which 1,500 commands pipelined at once to a Cluster missed on this 2-core machine.
 */
const PIPELINE = 100;

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

  get(collection: string, key: string): Promise<ContentRecord | undefined> {
    return this.#call(() => this.#client.hmgetBuffer(recordKey(this.#prefix, collection, key), READ_FIELDS[0], READ_FIELDS[1]))
      .then((fields) => recordOf(collection, key, fields));
  }

  async getMany(collection: string, keys: readonly string[]): Promise<(ContentRecord | undefined)[]> {
    const out: (ContentRecord | undefined)[] = [];
    for (let i = 0; i < keys.length; i += PIPELINE) {
      const part = keys.slice(i, i + PIPELINE);
      // Issued in one go: the client's auto-pipelining sends them as one write per node (Cluster included).
      const all = await this.#call(() => Promise.all(part.map((key) => this.#client.hmgetBuffer(recordKey(this.#prefix, collection, key), ...READ_FIELDS))));
      for (let j = 0; j < all.length; j++) out.push(recordOf(collection, part[j] as string, all[j] as (Buffer | null)[]));
    }
    return out;
  }

  async set(record: ContentRecord, ttlSeconds: number): Promise<void> {
    if (ttlSeconds <= 0) return; // expired on arrival: nothing to store
    const ttlMs = String(jitteredTtlMs(positive('ttlSeconds', ttlSeconds)));
    await this.#call(() => this.#setOne(record, ttlMs));
  }

  async setMany(records: readonly ContentRecord[], ttlSeconds: number): Promise<void> {
    if (ttlSeconds <= 0 || records.length === 0) return;
    const ttl = positive('ttlSeconds', ttlSeconds);
    for (let i = 0; i < records.length; i += PIPELINE) {
      await this.#call(() => Promise.all(records.slice(i, i + PIPELINE).map((record) => this.#setOne(record, String(jitteredTtlMs(ttl))))));
    }
  }

  #setOne(record: ContentRecord, ttlMs: string): Promise<number> {
    return this.#scripts.fgSet(
      recordKey(this.#prefix, record.collection, record.key),
      String(record.version),
      record.body,
      encodeMeta(etagNumberOfRecord(record), record.version, record.updatedAt, record.contentType),
      ttlMs,
    );
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

  /**
   * Runs one command, unless the client is not connected: then it rejects at once, without queueing. A promise
   * chain, not an async function: every cold read comes through here, and the async layers cost 1.2 KB of
   * allocation a read (sampling heap profiler).
   */
  #call<T>(command: () => Promise<T>): Promise<T> {
    let sent: Promise<T>;
    try {
      sent = failFast(this.#client, command);
    } catch (err) {
      return this.#failed(err);
    }
    return sent.then(
      (value) => {
        this.#health.success();
        return value;
      },
      (err: unknown) => this.#failed(err),
    );
  }

  #failed(err: unknown): Promise<never> {
    this.#health.failure();
    return Promise.reject(new TierUnavailableError(this.name, err));
  }
}

/** The record in an HMGET of READ_FIELDS, or undefined for a miss, a tombstone, a marker or a meta it cannot read. */
function recordOf(collection: string, key: string, [body, meta]: (Buffer | null)[]): ContentRecord | undefined {
  if (!body || !meta) return undefined;
  const m = decodeMeta(meta);
  if (m === undefined) return undefined;
  // The body is a view into the socket's read chunk (up to 64 KiB shared by a pipelined batch): the memory tier
  // copies what it keeps (compact.ts, ownBytes), so nothing is copied for a read that only answers.
  return { collection, key, body, contentType: m.contentType, version: m.version, updatedAt: m.updatedAt, etag: m.etag };
}
