// The store is protected (real floodgate processes, real PostgreSQL, one schema per run): however many misses
// arrive, floodgate's connections never exceed the pool, and every read is answered within its deadline,
// by content or, when the store cannot answer in time, by the fallback body or a 503.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { EVENT_LOOP_SHEDDING_OFF } from '../../src/config.ts';
import { demoBody } from '../../src/content/demo.ts';
import { PG_URL, adminSql, dropSchema, uniqueName } from '../store/pg-helpers.ts';
import { get, startServe, type Reply, type Server } from '../lifecycle/helpers.ts';

const USERS = 2000;
/** The deadlines the two servers promise (--deadline), ms. */
const POOLED_DEADLINE_MS = 1000;
const PATIENT_DEADLINE_MS = 400;
/**
 * What a reply may take beyond its server's deadline, as the client sees it: the deadline's timer firing late
 * on a 2-core machine shared with other suites, plus this one test process reading 2,000 replies on one
 * event loop (a reply written at the deadline is timed when the client gets to it). Not a figure of merit:
 * a server that ignored its deadline would take the store's 3 s or the client's 10 s timeout.
 */
const SCHEDULING_SLACK_MS = 1500;

describe('overload: the store is protected (PostgreSQL)', () => {
  const sql = adminSql();
  const schema = uniqueName('fg_ovl');
  const appName = uniqueName('fg_ovl_app');
  const dir = mkdtempSync(join(tmpdir(), 'fg-ovl-'));
  const collections = join(dir, 'collections.json');
  const servers: Server[] = [];
  let pooled: Server; // deadline 1 s, store deadline 800 ms
  let patient: Server; // deadline 400 ms, store deadline 3 s
  before(async () => {
    writeFileSync(collections, JSON.stringify({ collections: { promo: { fallback: 'the fallback promo' } } }));
    // Event-loop shedding off: 2,000 concurrent misses would leave it shedding into the next test, whose answers
    // must come from the store's deadlines (event-loop shedding has its own tests in event-loop.test.ts).
    const common = ['--workers', '1', '--db-schema', schema, '--db-pool', '5', '--collections', collections, ...EVENT_LOOP_SHEDDING_OFF];
    pooled = await startServe([...common, '--seed', String(USERS), '--deadline', `${POOLED_DEADLINE_MS}ms`, '--store-timeout', '800ms'], { DATABASE_URL: `${PG_URL}?application_name=${appName}` });
    servers.push(pooled);
    patient = await startServe([...common, '--deadline', `${PATIENT_DEADLINE_MS}ms`, '--store-timeout', '3s'], { DATABASE_URL: `${PG_URL}?application_name=${appName}_2` });
    servers.push(patient);
  });
  after(async () => {
    await Promise.all(servers.map((s) => s.kill()));
    await dropSchema(sql, schema);
    await sql.end();
    rmSync(dir, { recursive: true, force: true });
  });

  it('2,000 concurrent misses on distinct cold keys: at most 5 connections, every read answered in time', { timeout: 60_000 }, async (t) => {
    let maxPool = 0;
    let maxAll = 0;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const [row] = await sql<{ pool: number; all: number }[]>`
          SELECT count(*) FILTER (WHERE query NOT ILIKE 'listen%')::int AS pool, count(*)::int AS all
          FROM pg_stat_activity WHERE application_name = ${appName}`;
        maxPool = Math.max(maxPool, row?.pool ?? 0);
        maxAll = Math.max(maxAll, row?.all ?? 0);
        await new Promise((r) => setTimeout(r, 5));
      }
    })();
    const replies = await Promise.all(
      Array.from({ length: USERS }, (_, i) => get(`${pooled.url}/data?user_id=${i + 1}`, false, 10_000).then((r): [number, Reply] => [i + 1, r])),
    );
    sampling = false;
    await sampler;
    let content = 0;
    for (const [id, r] of replies) {
      if (r.status === 200) {
        assert.equal(r.body, demoBody(id));
        content++;
      } else {
        assert.equal(r.status, 503, r.body);
        assert.match((JSON.parse(r.body) as { error: { code: string } }).error.code, /^FG_ERR_/);
      }
    }
    const slowest = Math.max(...replies.map(([, r]) => r.ms));
    assert.ok(slowest < POOLED_DEADLINE_MS + SCHEDULING_SLACK_MS, `slowest answer ${slowest.toFixed(0)} ms; the deadline is ${POOLED_DEADLINE_MS} ms, the slack ${SCHEDULING_SLACK_MS} ms`);
    assert.ok(content > 0, 'content was served');
    t.diagnostic(`content ${content}/${USERS}, slowest ${slowest.toFixed(0)} ms, pooled connections at most ${maxPool}, with the change-feed listener ${maxAll}`);
    assert.ok(maxPool <= 5, `pooled connections seen: ${maxPool}; the pool is 5`);
    assert.ok(maxAll <= 6, `connections seen: ${maxAll}; the pool is 5, plus the change feed's one listener`);
  });

  it('a store that cannot answer: fallback, else 503, at the deadline or the store deadline, whichever is first', { timeout: 30_000 }, async () => {
    let release: () => void = () => undefined;
    const released = new Promise<void>((r) => (release = r));
    let locked: () => void = () => undefined;
    const isLocked = new Promise<void>((r) => (locked = r));
    const holder = sql.begin(async (tx) => {
      await tx.unsafe(`LOCK TABLE "${schema}".content IN ACCESS EXCLUSIVE MODE`);
      locked();
      await released;
    });
    try {
      await isLocked;
      const [promoDeadline, plainDeadline, promoStore, plainStore] = await Promise.all([
        get(`${patient.url}/v1/content/promo/cold1`),
        get(`${patient.url}/data?user_id=${USERS + 7}`),
        get(`${pooled.url}/v1/content/promo/cold2`),
        get(`${pooled.url}/data?user_id=${USERS + 8}`),
      ]);
      // The request deadline (400 ms) comes before the store deadline (3 s).
      assert.deepEqual([promoDeadline.status, promoDeadline.headers['x-fallback'], promoDeadline.body], [200, '1', 'the fallback promo']);
      assert.equal(promoDeadline.headers['x-degraded-reason'], 'deadline');
      assert.equal(plainDeadline.status, 503);
      assert.equal(plainDeadline.headers['retry-after'], '1');
      assert.equal((JSON.parse(plainDeadline.body) as { error: { code: string } }).error.code, 'FG_ERR_DEADLINE');
      assert.ok(Math.max(promoDeadline.ms, plainDeadline.ms) < PATIENT_DEADLINE_MS + SCHEDULING_SLACK_MS, `${promoDeadline.ms} ${plainDeadline.ms}; the deadline is ${PATIENT_DEADLINE_MS} ms, the slack ${SCHEDULING_SLACK_MS} ms`);
      // The store deadline (800 ms) comes before the request deadline (1 s).
      assert.deepEqual([promoStore.status, promoStore.headers['x-fallback'], promoStore.headers['x-degraded-reason']], [200, '1', 'store-error']);
      assert.equal(plainStore.status, 503);
      assert.equal(plainStore.headers['x-degraded-reason'], 'store-error');
      assert.match((JSON.parse(plainStore.body) as { error: { code: string } }).error.code, /^FG_ERR_STORE_(TIMEOUT|UNAVAILABLE)$/);
    } finally {
      release();
      await holder;
    }
    // The store answers again: content, not the fallback.
    const again = await get(`${patient.url}/data?user_id=7`);
    assert.deepEqual([again.status, again.body], [200, demoBody(7)]);
  });
});
