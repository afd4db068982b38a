// Concurrency never maps to connections: a fixed pool, and a deadline on every call, queueing included.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { StoreTimeoutError } from '../../src/store/errors.ts';
import { openPostgresStore } from '../../src/store/postgres.ts';
import type { Store } from '../../src/store/store.ts';
import { adminSql, dropSchema, eventually, PG_URL, uniqueName } from './pg-helpers.ts';

const admin = adminSql();
const schema = uniqueName();
after(async () => {
  try {
    await dropSchema(admin, schema);
  } finally {
    await admin.end();
  }
});

/** Slack for timers on a busy shared machine: a call must settle by deadline + this. */
const SLACK_MS = 500;

async function connectionsOf(app: string): Promise<number> {
  const [row] = await admin<{ n: number }[]>`SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = ${app}`;
  return row?.n ?? 0;
}

/** Samples the number of `app` connections every 2 ms for `ms`, inside the server: { samples, maxSeen }. */
async function sampleConnections(app: string, ms: number): Promise<{ samples: number; maxSeen: number }> {
  const [row] = await admin.unsafe<{ samples: number; max_seen: number }[]>(`
    SELECT * FROM "${schema}".sample_connections($1, $2)`, [app, ms]);
  return { samples: row?.samples ?? 0, maxSeen: row?.max_seen ?? 0 };
}

/** Runs `fn` once per call concurrently and records how each settled and how long it took. */
async function timed(calls: (() => Promise<unknown>)[]): Promise<{ ms: number; err?: unknown }[]> {
  return Promise.all(calls.map(async (call) => {
    const started = performance.now();
    try {
      await call();
      return { ms: performance.now() - started };
    } catch (err) {
      return { ms: performance.now() - started, err };
    }
  }));
}

describe('PostgreSQL pool and deadlines', () => {
  it('2 x 2,000 concurrent gets with poolSize 5 never use more than 5 connections, and each settles by its deadline', async () => {
    const app = uniqueName('fg_app');
    const deadline = 1000;
    const store: Store = await openPostgresStore({ url: PG_URL, poolSize: 5, queueTimeoutMs: deadline, schema, applicationName: app });
    await admin.unsafe(`
      CREATE FUNCTION "${schema}".sample_connections(app text, ms int, OUT samples int, OUT max_seen int)
      LANGUAGE plpgsql AS $fn$
      DECLARE stop timestamptz := clock_timestamp() + ms * interval '1 millisecond'; n int;
      BEGIN
        samples := 0; max_seen := 0;
        WHILE clock_timestamp() < stop LOOP
          PERFORM pg_stat_clear_snapshot(); -- pg_stat_activity is otherwise frozen for the transaction
          SELECT count(*) INTO n FROM pg_stat_activity WHERE application_name = app;
          samples := samples + 1; max_seen := greatest(max_seen, n);
          PERFORM pg_sleep(0.002);
        END LOOP;
      END $fn$`);
    try {
      const writes = Array.from({ length: 2000 }, (_, i) => ({ collection: 'pool', key: `k${i}`, body: Buffer.from(`v${i}`), contentType: 'text/plain' }));
      await store.putMany(writes);
      // Sampled inside PostgreSQL every 2 ms (independent of this process's busy event loop) while the gets run.
      const sampling = sampleConnections(app, 1500);
      await new Promise((r) => setTimeout(r, 50));
      const results = [
        ...(await timed(writes.map((w) => () => store.get(w.collection, w.key)))),
        ...(await timed(writes.map((w) => () => store.get(w.collection, `${w.key}-absent`)))),
      ];
      const { samples, maxSeen: sampled } = await sampling;
      const maxSeen = Math.max(sampled, await connectionsOf(app));
      assert.ok(samples > 50, `sampled ${samples} times`);
      assert.ok(maxSeen >= 1, 'the sampler saw the pool');
      assert.ok(maxSeen <= 5, `at most 5 connections; saw ${maxSeen}`);
      for (const r of results) {
        assert.ok(r.err === undefined || r.err instanceof StoreTimeoutError, `resolves or times out; got ${String(r.err)}`);
        assert.ok(r.ms <= deadline + SLACK_MS, `settled after ${r.ms.toFixed(0)} ms`);
      }
      assert.ok(results.some((r) => r.err === undefined), 'most calls are answered');
      process.stdout.write(`# pool: ${samples} samples, max ${maxSeen} connections, ${results.filter((r) => r.err).length} timeouts\n`);
    } finally {
      await store.close();
    }
  });

  it('a call stuck behind a lock times out at its deadline, is cancelled, and its write never lands', async () => {
    const app = uniqueName('fg_app');
    const deadline = 300;
    const store = await openPostgresStore({ url: PG_URL, poolSize: 2, queueTimeoutMs: deadline, schema, applicationName: app });
    const locker = await admin.reserve();
    try {
      await store.put({ collection: 'lock', key: 'k', body: Buffer.from('before'), contentType: 'text/plain' });
      await locker.unsafe('BEGIN');
      await locker.unsafe(`SELECT 1 FROM "${schema}".content WHERE collection = 'lock' AND key = 'k' FOR UPDATE`);
      // Two writers occupy both connections (blocked on the lock); the reads queue behind them.
      const calls = [
        () => store.put({ collection: 'lock', key: 'k', body: Buffer.from('after-1'), contentType: 'text/plain' }),
        () => store.put({ collection: 'lock', key: 'k', body: Buffer.from('after-2'), contentType: 'text/plain' }),
        ...Array.from({ length: 20 }, (_, i) => () => store.get('lock', `other${i}`)),
      ];
      const results = await timed(calls);
      for (const [i, r] of results.entries()) {
        if (i < 2) assert.ok(r.err instanceof StoreTimeoutError, `writer ${i} times out; got ${String(r.err)}`);
        else assert.ok(r.err === undefined || r.err instanceof StoreTimeoutError, String(r.err));
        assert.ok(r.ms <= deadline + SLACK_MS, `settled after ${r.ms.toFixed(0)} ms`);
      }
      const idle = await eventually(async () => {
        const rows = await admin`SELECT 1 FROM pg_stat_activity WHERE application_name = ${app} AND state = 'active'`;
        return rows.length === 0;
      }, 3000);
      assert.ok(idle, 'the timed-out statements stopped running on the server');
      await locker.unsafe('COMMIT');
      assert.equal((await store.get('lock', 'k'))?.body.toString(), 'before', 'a timed-out write does not apply later');
      await store.ping();
    } finally {
      await locker.unsafe('ROLLBACK').catch(() => undefined);
      locker.release();
      await store.close();
    }
  });
});
