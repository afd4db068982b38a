// Issue 3, point 6 (Redis): Redis stopped in the middle of a load run. Reads keep succeeding from memory and
// the store with zero 5xx; /readyz names Redis as failing; when Redis is back it is used again without a
// restart (floodgate_cache_lookups_total{tier="redis",outcome="hit"} grows again).
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { metric, serve, type Served } from '../support/serve.ts';
import { startRedisServer, type RedisServer } from '../support/redis-server.ts';
import { get, pgArgs, pgSchema, Resources, SERVER_ENV, within } from './helpers.ts';
import { Load } from './load.ts';

const USERS = 5000;
const redisHits = (srv: Served): Promise<number> => metric(srv.url, 'floodgate_cache_lookups_total', { tier: 'redis', outcome: 'hit' });
const storeReads = (srv: Served): Promise<number> => metric(srv.url, 'floodgate_store_queries_total', { op: 'get' });

describe('Redis stopped under load', () => {
  const res = new Resources();
  let redis: RedisServer;
  let srv: Served;
  before(async () => {
    const schema = res.use(pgSchema());
    redis = res.use(await startRedisServer());
    // A memory tier far smaller than the key space (~100 KB: a few hundred of the 5,000 users), so most
    // reads go down to Redis or the store. Event-loop shedding is off: on a machine busy with other work it
    // would answer 503 for a reason that has nothing to do with Redis (admission control has its own tests).
    const args = ['--redis-url', redis.url, '--seed', String(USERS), '--cache-bytes', '100000', '--max-event-loop-delay', '0'];
    srv = res.use(await serve({ args: [...pgArgs(schema.name), ...args], env: SERVER_ENV }));
  });
  after(() => res.dispose());

  it('reads answer 200 throughout; Redis is used again once it is back', async (t) => {
    const load = new Load(srv.url, () => `/data?user_id=${1 + Math.floor(Math.random() * USERS)}`);
    try {
      const hitsUp = await within(5000, async () => (await redisHits(srv)) > 200, 50);
      assert.ok(hitsUp !== undefined, 'Redis was never hit under load');

      await redis.stop();
      const stoppedAt = await redisHits(srv);
      const storeBefore = await storeReads(srv);
      const ready = await get(`${srv.url}/readyz`);
      const { status, checks } = JSON.parse(ready.body) as { status: string; checks: Record<string, string> };
      assert.match(checks.redis ?? '', /^failing/, `/readyz: ${ready.body}`);
      assert.equal(checks.store, 'ok', `/readyz: ${ready.body}`);
      // Reads skip a failing Redis, so the instance stays in the load balancer: ready, but degraded.
      assert.equal(ready.status, 200, `/readyz: ${ready.body}`);
      assert.equal(status, 'degraded', `/readyz: ${ready.body}`);
      await sleep(1500);
      const storeDuring = (await storeReads(srv)) - storeBefore;
      assert.ok(storeDuring > 100, `the store took over the reads Redis answered (${storeDuring} store reads while Redis was down)`);
      const hitsWhileDown = (await redisHits(srv)) - stoppedAt;
      assert.ok(hitsWhileDown <= 16, `no Redis hits while it is down (got ${hitsWhileDown})`);

      await redis.restart();
      const restartedAt = await redisHits(srv);
      const backAfter = await within(5000, async () => (await redisHits(srv)) > restartedAt + 100, 50);
      assert.ok(backAfter !== undefined, 'Redis was not hit again within 5 s of its restart');
      t.diagnostic(`Redis hits again ${backAfter.toFixed(0)} ms after the restart; ${load.total} reads in all`);
      const readyAgain = await within(3000, async () => (JSON.parse((await get(`${srv.url}/readyz`)).body) as { status: string }).status === 'ready', 50);
      assert.ok(readyAgain !== undefined, '/readyz did not report ready again');
    } finally {
      await load.stop();
    }
    assert.deepEqual(load.failures(), {}, `every read answered 200 (${load.total} reads); the others: ${JSON.stringify(Object.fromEntries(load.why))}`);
    assert.ok(load.total > 1000, `enough reads to mean something (${load.total})`);
  });
});
