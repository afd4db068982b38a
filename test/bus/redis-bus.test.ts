// The Redis invalidation bus against real servers: delivery to every instance (including the publisher),
// recovery after the server restarts (with the resync signal), and in a Cluster, moving the subscription off a
// dead node.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Change } from '../../src/content/record.ts';
import { openRedisBus, type RedisInvalidationBus } from '../../src/bus/redis-bus.ts';
import { channelName } from '../../src/tiers/redis-keys.ts';
import type { RedisOptions } from '../../src/tiers/redis.ts';
import { startRedisCluster, type RedisCluster } from '../support/redis-cluster.ts';
import { startRedisServer, type RedisServer } from '../support/redis-server.ts';
import { eventually } from '../tiers/contract.ts';
import { randomPrefix, rawClient, SYSTEM_REDIS_URL } from '../tiers/redis-helpers.ts';

/** A bus that records what it receives. */
class Listener {
  readonly bus: RedisInvalidationBus;
  readonly got: Change[] = [];
  resyncs = 0;

  constructor(opts: RedisOptions) {
    this.bus = openRedisBus(opts);
    this.bus.subscribe((change) => this.got.push(change));
    this.bus.onResync(() => this.resyncs++);
  }

  has(version: number): boolean {
    return this.got.some((c) => c.version === version);
  }
}

const change = (version: number, deleted = false): Change => ({ collection: 'news', key: `k{${version}}`, version, deleted });

/** Publishes once the publisher can reach Redis (right after a restart it may still be reconnecting). */
async function publishSoon(bus: RedisInvalidationBus, c: Change, ms = 5_000): Promise<void> {
  const start = performance.now();
  for (;;) {
    try {
      return await bus.publish(c);
    } catch (err) {
      if (performance.now() - start > ms) throw err;
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  }
}

interface Outage {
  kill(): Promise<void>;
  revive(): Promise<void>;
  /** Standalone: nothing is left to publish to. Cluster: the surviving nodes still take the PUBLISH. */
  publishFailsMeanwhile: boolean;
}

function busSuite(name: string, urls: () => { first: string; second: string }, outage: Outage): void {
  describe(name, () => {
    const prefix = randomPrefix();
    let a: Listener;
    let b: Listener;
    before(async () => {
      a = new Listener({ url: urls().first, keyPrefix: prefix });
      b = new Listener({ url: urls().second, keyPrefix: prefix });
      await eventually('both subscribed', () => a.bus.subscribed && b.bus.subscribed);
    });
    after(async () => {
      await Promise.all([a?.bus.close(), b?.bus.close()]);
    });

    it('a change published on one instance reaches every instance, the publisher included, within 1 s', async () => {
      const sent = change(1, true);
      await publishSoon(a.bus, sent); // the publishing connection may still be connecting
      await eventually('both received it', () => a.has(1) && b.has(1), 1_000);
      assert.deepEqual(b.got.find((c) => c.version === 1), sent);
      await b.bus.publish(change(2));
      await eventually('both received the second', () => a.has(2) && b.has(2), 1_000);
    });

    it('survives losing the server: resubscribes by itself, signals the gap, delivers again', async () => {
      const resyncs = [a.resyncs, b.resyncs];
      await outage.kill();
      await eventually('both notice', () => !a.bus.subscribed && !b.bus.subscribed, 5_000);
      if (outage.publishFailsMeanwhile) await assert.rejects(a.bus.publish(change(3)));
      await outage.revive();
      await eventually('both resubscribed', () => a.bus.subscribed && b.bus.subscribed, 10_000);
      assert.deepEqual([a.resyncs, b.resyncs], [resyncs[0]! + 1, resyncs[1]! + 1], 'one resync signal each');
      await publishSoon(b.bus, change(4));
      await eventually('both received a change published after the restart', () => a.has(4) && b.has(4), 1_000);
    });
  });
}

describe('Redis bus on the machine\'s Redis', () => {
  const prefix = randomPrefix();
  it('delivers to two instances and ignores foreign messages on the channel', async () => {
    const a = new Listener({ url: SYSTEM_REDIS_URL, keyPrefix: prefix });
    const b = new Listener({ url: SYSTEM_REDIS_URL, keyPrefix: prefix });
    const raw = await rawClient(SYSTEM_REDIS_URL);
    try {
      await eventually('both subscribed', () => a.bus.subscribed && b.bus.subscribed);
      for (const junk of ['not json', '{"collection":"c"}', '[1,2]', '{"collection":"c","key":"k","version":"1","deleted":false}']) {
        await raw.publish(channelName(prefix), junk);
      }
      await a.bus.publish(change(7));
      await eventually('both received it', () => a.has(7) && b.has(7), 1_000);
      assert.deepEqual([a.got, b.got], [[change(7)], [change(7)]], 'the malformed messages were dropped');
    } finally {
      raw.disconnect();
      await Promise.all([a.bus.close(), b.bus.close()]);
    }
  });

  it('a listener that throws does not starve the others', async () => {
    const bus = openRedisBus({ url: SYSTEM_REDIS_URL, keyPrefix: prefix });
    const got: number[] = [];
    const warnings: Error[] = [];
    const onWarning = (w: Error): void => void warnings.push(w);
    process.on('warning', onWarning);
    try {
      bus.subscribe(() => {
        throw new Error('handler bug');
      });
      bus.subscribe((c) => got.push(c.version));
      await eventually('subscribed', () => bus.subscribed);
      await bus.publish(change(8));
      await eventually('the second handler ran', () => got.includes(8), 1_000);
      await eventually('the error became a warning', () => warnings.some((w) => w.message === 'handler bug'), 1_000);
    } finally {
      process.off('warning', onWarning);
      await bus.close();
    }
  });
});

let server: RedisServer;
describe('Redis bus on a test-started standalone server', () => {
  before(async () => {
    server = await startRedisServer();
  });
  after(async () => {
    await server?.[Symbol.asyncDispose]();
  });
  busSuite('standalone', () => ({ first: server.url, second: server.url }), {
    kill: () => server.stop(), revive: () => server.restart(), publishFailsMeanwhile: true,
  });

  it('publish fails fast while Redis is down', async () => {
    const bus = openRedisBus({ url: server.url, keyPrefix: randomPrefix() });
    try {
      await server.stop();
      const start = performance.now();
      await assert.rejects(bus.publish(change(9)));
      assert.ok(performance.now() - start < 350);
    } finally {
      await server.restart();
      await bus.close();
    }
  });
});

let cluster: RedisCluster;
describe('Redis bus on a test-started three-master Cluster', () => {
  before(async () => {
    cluster = await startRedisCluster();
  });
  after(async () => {
    await cluster?.[Symbol.asyncDispose]();
  });
  // Both buses start subscribed on the first node (the seed); killing it makes them move to another node.
  busSuite('cluster (plain PUBLISH, broadcast to every node)', () => ({ first: cluster.url, second: cluster.urls }), {
    kill: () => cluster.nodes[0]!.stop(), revive: async () => undefined, publishFailsMeanwhile: false,
  });
});
