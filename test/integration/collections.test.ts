// Issue 3, point 5: a collection defined in a config file over the user's own table, served read-only through
// the same tiers (memory, Redis) with its own TTL; bad SQL or a missing table stops `floodgate serve` at start
// with a message naming the problem.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { serve, serveExpectingExit, type Served } from '../support/serve.ts';
import { startRedisServer, type RedisServer } from '../support/redis-server.ts';
import { del, pgArgs, pgSchema, put, read, Resources, SERVER_ENV, within, type PgSchema } from './helpers.ts';

describe('collections over existing tables (--collections FILE, PostgreSQL)', () => {
  const res = new Resources();
  let schema: PgSchema;
  let redis: RedisServer;
  let dir: string;
  let srv: Served;

  async function collectionsFile(name: string, collections: Record<string, unknown>): Promise<string> {
    const file = join(dir, name);
    await writeFile(file, JSON.stringify({ collections }));
    return file;
  }

  before(async () => {
    schema = res.use(pgSchema());
    dir = await mkdtemp(join(tmpdir(), 'fg-it-collections-'));
    res.use({ [Symbol.asyncDispose]: () => rm(dir, { recursive: true, force: true }) });
    redis = res.use(await startRedisServer());
    // "The user's own table": created by another application before floodgate starts.
    await schema.sql.unsafe(`CREATE SCHEMA "${schema.name}"`);
    await schema.sql.unsafe(`CREATE TABLE "${schema.name}".recommendations (user_id integer PRIMARY KEY, payload jsonb NOT NULL)`);
    await schema.sql.unsafe(`INSERT INTO "${schema.name}".recommendations VALUES (42, '{"items": ["a", "b"]}'), (7, '{"items": []}'), (8, '{"items": ["old"]}')`);
    const file = await collectionsFile('ok.json', {
      recs: { ttl: '1s', contentType: 'application/json', query: `SELECT payload FROM "${schema.name}".recommendations WHERE user_id = $1` },
    });
    srv = res.use(await serve({ args: [...pgArgs(schema.name), '--redis-url', redis.url, '--collections', file], env: SERVER_ENV }));
  });
  after(() => res.dispose());

  it('serves a row of the table with the collection\'s content type and TTL, from memory on the next read', async () => {
    const first = await read(srv.url, 'recs', '42');
    assert.equal(first.status, 200);
    assert.deepEqual(JSON.parse(first.body), { items: ['a', 'b'] });
    assert.equal(first.headers.get('content-type'), 'application/json');
    assert.equal(first.headers.get('cache-control'), 'max-age=1');
    assert.equal(first.headers.get('x-cache'), 'miss');
    const second = await read(srv.url, 'recs', '42');
    assert.equal(second.headers.get('x-cache'), 'hit');
    assert.equal(second.headers.get('etag'), first.headers.get('etag'));
    assert.equal((await read(srv.url, 'recs', '999')).status, 404, 'no row: 404');
    assert.equal((await read(srv.url, 'recs', 'not-a-number')).status, 404, 'a key that cannot be a user_id: 404, not an error');
  });

  it('goes through the Redis tier too: the row is cached in Redis for every instance', async () => {
    assert.equal((await read(srv.url, 'recs', '7')).status, 200);
    const raw = new Redis(redis.url);
    try {
      const held = await within(1000, async () => (await raw.hget('fg:{recs:7}', 'body')) !== null);
      assert.ok(held !== undefined, 'the query result was not written to Redis');
      assert.deepEqual(JSON.parse((await raw.hget('fg:{recs:7}', 'body')) ?? ''), { items: [] });
    } finally {
      raw.disconnect();
    }
  });

  it('picks up a change of the table after its own TTL (1 s), not before', async (t) => {
    const first = await read(srv.url, 'recs', '8');
    assert.equal(first.headers.get('x-cache'), 'miss');
    const filled = performance.now();
    await schema.sql.unsafe(`UPDATE "${schema.name}".recommendations SET payload = '{"items": ["new"]}' WHERE user_id = 8`);
    const soon = await read(srv.url, 'recs', '8');
    if (performance.now() - filled < 800) {
      assert.equal(soon.body, '{"items": ["old"]}', 'within its TTL the cached row is served');
      assert.equal(soon.headers.get('x-cache'), 'hit');
    } else t.diagnostic('the machine was too slow to check "not before the TTL"');
    // Freshness is the TTL (±10 %) in memory and in Redis, so the change shows within about two TTLs.
    const took = await within(4000, async () => (await read(srv.url, 'recs', '8')).body === '{"items": ["new"]}', 50);
    assert.ok(took !== undefined, 'the change of the table was never served');
  });

  it('is read-only: PUT and DELETE answer 405 FG_ERR_READ_ONLY_COLLECTION', async () => {
    for (const answer of [await put(srv.url, 'recs', '42', '{}', 'application/json'), await del(srv.url, 'recs', '42')]) {
      assert.equal(answer.status, 405);
      assert.equal((JSON.parse(answer.body) as { error: { code: string } }).error.code, 'FG_ERR_READ_ONLY_COLLECTION');
    }
    const [row] = await schema.sql.unsafe<{ payload: unknown }[]>(`SELECT payload FROM "${schema.name}".recommendations WHERE user_id = 42`);
    assert.ok(row, 'the row is still there');
  });

  const bad: [string, string, RegExp][] = [
    ['bad SQL', 'SELECT payload FRM "<schema>".recommendations WHERE user_id = $1', /syntax error/i],
    ['not a read', 'DELETE FROM "<schema>".recommendations WHERE user_id = $1 RETURNING payload', /must be a read/i],
    ['a missing table', 'SELECT payload FROM "<schema>".no_such_table WHERE user_id = $1', /no_such_table.*does not exist|does not exist.*no_such_table/i],
    ['a missing column', 'SELECT nope FROM "<schema>".recommendations WHERE user_id = $1', /nope.*does not exist|does not exist.*nope/i],
    ['no key parameter', 'SELECT payload FROM "<schema>".recommendations LIMIT 1', /parameter/i],
  ];
  for (const [what, query, problem] of bad) {
    it(`${what} stops the server at start, with a message naming the problem`, async () => {
      const file = await collectionsFile(`bad-${what.replaceAll(' ', '-')}.json`, { broken: { query: query.replace('<schema>', schema.name) } });
      const out = await serveExpectingExit({ args: [...pgArgs(schema.name), '--collections', file], env: SERVER_ENV });
      assert.notEqual(out.code, 0, `exit status ${out.code}`);
      assert.match(out.stderr, problem, `stderr:\n${out.stderr}`);
      assert.match(out.stderr, /collection broken:/, 'the message names the collection');
      assert.doesNotMatch(out.stderr, /^\s+at /m, 'a message, not a stack trace');
    });
  }
});
