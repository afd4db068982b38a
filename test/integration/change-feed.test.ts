// Issue 3, point 4: rows changed by plain SQL from another application are served fresh by every instance
// within 1 s (trigger + LISTEN/NOTIFY), and changes made while an instance's listening connection was gone are
// caught up when it reconnects (the test kills the listeners' backends with pg_terminate_backend).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { serve, type Served } from '../support/serve.ts';
import { startRedisServer } from '../support/redis-server.ts';
import { median, pgArgs, pgSchema, put, read, Resources, SERVER_ENV, within, type PgSchema } from './helpers.ts';

const DEADLINE_MS = 1000;
/** Reconnecting (postgres.js waits a moment before it redials) and replaying take longer than one NOTIFY. */
const CATCH_UP_MS = 3000;

describe('change feed from other writers (plain SQL on PostgreSQL)', () => {
  const res = new Resources();
  let schema: PgSchema;
  let servers: Served[];
  let table: string;
  before(async () => {
    schema = res.use(pgSchema());
    const redis = res.use(await startRedisServer());
    const args = [...pgArgs(schema.name), '--redis-url', redis.url];
    const a = res.use(await serve({ args, env: SERVER_ENV }));
    const b = res.use(await serve({ args, env: SERVER_ENV }));
    servers = [a, b];
    table = `"${schema.name}".content`;
  });
  after(() => res.dispose());

  /** Writes key through the API and has every instance hold it in memory (and Redis hold it too). */
  async function cachedEverywhere(key: string, body: string): Promise<void> {
    assert.equal((await put(servers[0]?.url ?? '', 'news', key, body)).status, 201, 'a new key: created');
    for (const srv of servers) {
      const took = await within(2000, async () => {
        const r = await read(srv.url, 'news', key);
        return r.body === body && r.headers.get('x-cache') === 'hit';
      });
      assert.ok(took !== undefined, `${srv.url} never held ${key} in memory`);
    }
  }

  /** Resolves to the ms until every instance answers as `expect` says, or fails after `ms`. */
  async function seenEverywhere(key: string, expect: (status: number, body: string) => boolean, ms: number, what: string): Promise<number> {
    const times = await Promise.all(servers.map(async (srv) => {
      const took = await within(ms, async () => {
        const r = await read(srv.url, 'news', key);
        return expect(r.status, r.body);
      }, 2);
      const last = await read(srv.url, 'news', key);
      assert.ok(took !== undefined, `${srv.url} still answered ${last.status} ${JSON.stringify(last.body)} for ${key} ${ms} ms after ${what}`);
      return took;
    }));
    return Math.max(...times);
  }

  it('UPDATE, INSERT and DELETE by plain SQL are served fresh by every instance within 1 s', async (t) => {
    const times: number[] = [];
    for (let i = 0; i < 3; i++) {
      const key = `sql-update-${i}`;
      await cachedEverywhere(key, 'from the API');
      await schema.sql.unsafe(`UPDATE ${table} SET body = convert_to($1, 'UTF8') WHERE collection = 'news' AND key = $2`, [`from SQL ${i}`, key]);
      times.push(await seenEverywhere(key, (s, b) => s === 200 && b === `from SQL ${i}`, DEADLINE_MS, 'an UPDATE'));
    }
    // A key every instance remembers as absent (negative caching), then inserted by another application.
    for (const srv of servers) assert.equal((await read(srv.url, 'news', 'sql-insert')).status, 404);
    await schema.sql.unsafe(`INSERT INTO ${table} (collection, key, body, content_type) VALUES ('news', 'sql-insert', convert_to('inserted', 'UTF8'), 'text/plain')`);
    times.push(await seenEverywhere('sql-insert', (s, b) => s === 200 && b === 'inserted', DEADLINE_MS, 'an INSERT'));

    await cachedEverywhere('sql-delete', 'doomed');
    await schema.sql.unsafe(`DELETE FROM ${table} WHERE collection = 'news' AND key = 'sql-delete'`);
    times.push(await seenEverywhere('sql-delete', (s) => s === 404, DEADLINE_MS, 'a DELETE'));
    t.diagnostic(`plain SQL write → fresh on both instances: median ${median(times).toFixed(1)} ms, max ${Math.max(...times).toFixed(1)} ms`);
  });

  it('changes made while the listening connections were killed (pg_terminate_backend) are caught up on reconnect', async (t) => {
    const keys = Array.from({ length: 5 }, (_, i) => `gap-${i}`);
    for (const key of keys) await cachedEverywhere(key, 'before the gap');
    const listeners = `application_name = 'floodgate-listen' AND query = 'LISTEN "${schema.name}_changes"'`;
    const old = await schema.sql.unsafe<{ pid: number }[]>(`SELECT pid FROM pg_stat_activity WHERE ${listeners}`);
    assert.equal(old.length, servers.length, 'one listening connection per instance');

    // One statement kills both listeners and changes the rows: it commits microseconds after the signals,
    // long before a listener can have redialled, so NOTIFY cannot tell them; only the catch-up can.
    const [changed] = await schema.sql.unsafe<{ killed: number; updated: number; at: Date }[]>(
      `WITH k AS (SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity WHERE ${listeners}),
            u AS (UPDATE ${table} SET body = convert_to('changed in the gap', 'UTF8') WHERE collection = 'news' AND key LIKE 'gap-%' RETURNING 1)
       SELECT (SELECT count(*) FROM k WHERE ok)::int AS killed, (SELECT count(*) FROM u)::int AS updated, clock_timestamp() AS at`,
    );
    assert.ok(changed);
    assert.equal(changed.killed, servers.length, 'both listeners were signalled');
    assert.equal(changed.updated, keys.length);
    const took = await Promise.all(keys.map((key) => seenEverywhere(key, (s, b) => s === 200 && b === 'changed in the gap', CATCH_UP_MS, 'the gap')));

    // New listeners are up, and they connected after the change committed: NOTIFY could not have told them.
    const fresh = await schema.sql.unsafe<{ pid: number; started: Date }[]>(
      `SELECT pid, backend_start AS started FROM pg_stat_activity WHERE ${listeners}`,
    );
    assert.equal(fresh.length, servers.length, 'every instance listens again');
    assert.ok(fresh.every((r) => !old.some((o) => o.pid === r.pid)), 'the listeners are new connections');
    assert.ok(
      fresh.every((r) => r.started.getTime() >= changed.at.getTime()),
      `a listener reconnected before the change committed (${fresh.map((r) => r.started.toISOString()).join(', ')} vs ${changed.at.toISOString()}); the gap was not exercised`,
    );
    t.diagnostic(`changes made while the listeners were gone served on both instances after ${Math.max(...took).toFixed(0)} ms`);

    // And the feed works normally again afterwards.
    await schema.sql.unsafe(`UPDATE ${table} SET body = convert_to('after the gap', 'UTF8') WHERE collection = 'news' AND key = 'gap-0'`);
    await seenEverywhere('gap-0', (s, b) => s === 200 && b === 'after the gap', DEADLINE_MS, 'an UPDATE after reconnecting');
  });
});
