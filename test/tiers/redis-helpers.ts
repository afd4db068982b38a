// Test helpers for the Redis tier and bus: a raw ioredis client to look behind the tier's back, unique key
// prefixes, and deleting everything under a prefix on every master.
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { Cluster, Redis } from 'ioredis';
import { answersPing } from '../support/redis-server.ts';

/** The machine's own Redis, which the tests share with everyone: always under a random prefix. */
export const SYSTEM_REDIS_URL = process.env.FLOODGATE_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

export function randomPrefix(): string {
  return `fgtest:${process.pid}:${randomBytes(4).toString('hex')}:`;
}

export async function systemRedisAnswers(): Promise<boolean> {
  const u = new URL(SYSTEM_REDIS_URL);
  return answersPing(Number(u.port || 6379));
}

/** A plain, ready client (standalone or Cluster) for inspection; `redis+cluster://h:p` or several URLs → Cluster. */
export async function rawClient(url: string): Promise<Redis | Cluster> {
  const urls = url.split(',');
  const client = urls.length === 1 && !url.startsWith('redis+cluster:')
    ? new Redis(url)
    : new Cluster(urls.map((u) => {
      const parsed = new URL(u);
      return { host: parsed.hostname, port: Number(parsed.port) };
    }));
  if (client.status !== 'ready') await once(client, 'ready');
  return client;
}

export function masters(client: Redis | Cluster): Redis[] {
  return client instanceof Cluster ? client.nodes('master') : [client];
}

/** Every key under `prefix`, per master node (SCAN, never KEYS). */
export async function keysByNode(client: Redis | Cluster, prefix: string): Promise<string[][]> {
  return Promise.all(masters(client).map(async (node) => {
    const found: string[] = [];
    let cursor = '0';
    do {
      const [next, keys] = await node.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      cursor = next;
      found.push(...keys);
    } while (cursor !== '0');
    return found;
  }));
}

/** Deletes every key under `prefix` (on every master), then closes the client. */
export async function dropPrefix(url: string, prefix: string): Promise<number> {
  const client = await rawClient(url);
  try {
    const perNode = await keysByNode(client, prefix);
    let dropped = 0;
    for (const [i, node] of masters(client).entries()) {
      const keys = perNode[i] ?? [];
      for (let j = 0; j < keys.length; j += 500) dropped += await node.unlink(...keys.slice(j, j + 500));
    }
    return dropped;
  } finally {
    client.disconnect();
  }
}
