// floodgate warm as an operator runs it before a send (issue 11): a real CLI process against real `floodgate serve`
// processes. After a warm-up, reads of the audience on either worker, and on another instance sharing Redis, are
// memory hits and the store is not read; a store cut part-way stops the warm-up with a message naming how far it
// got while the server keeps serving; bad input gets exit status 2 and the endpoint's refusals are 4xx JSON.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { demoBody } from '../../src/content/demo.ts';
import { randomBytes } from 'node:crypto';
import postgres from 'postgres';
import { PG_URL } from '../support/app.ts';
import { startRedisServer } from '../support/redis-server.ts';
import { freePort, metric, serve, type Served } from '../support/serve.ts';
import { startTcpProxy } from '../support/tcp-proxy.ts';

const TOKEN = 'warm-admin-token';
const ENV = { FLOODGATE_ADMIN_TOKEN: TOKEN };
/** The demo users every test warms. */
const N = 2000;

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** `floodgate warm …` as a process; `env` replaces FLOODGATE_ADMIN_TOKEN (undefined: none). */
function warm(args: string[], opts: { token?: string | undefined; input?: string } = { token: TOKEN }): Promise<Run> & { child: ReturnType<typeof spawn> } {
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.FLOODGATE_ADMIN_TOKEN;
  if (opts.token !== undefined) env.FLOODGATE_ADMIN_TOKEN = opts.token;
  const child = spawn(process.execPath, ['--disable-warning=ExperimentalWarning', 'bin/floodgate.js', 'warm', ...args], { env, stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  child.stdin.end(opts.input ?? '');
  const done = new Promise<Run>((resolve) => child.once('close', (status) => resolve({ status, stdout, stderr })));
  return Object.assign(done, { child });
}

/** The JSON summary of a --json run. */
function summary(r: Run): Record<string, unknown> {
  assert.equal(r.status, 0, `exit ${r.status}\n${r.stderr}\n${r.stdout}`);
  return JSON.parse(r.stdout.trim()) as Record<string, unknown>;
}

/** GET on a new connection each time (the workers share the port: new connections spread over them). */
function read(base: string, path: string): Promise<{ status: number; cache: string; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(`${base}${path}`, { agent: false, headers: { connection: 'close' } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, cache: String(res.headers['x-cache'] ?? ''), body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** Every store call of the instance, all operations (summed over its workers by /metrics). */
const storeCalls = (base: string): Promise<number> => metric(base, 'floodgate_store_queries_total');

/** Ids 1..N, every step-th, for the sample of reads. */
const sample = (step: number): number[] => Array.from({ length: Math.floor(N / step) }, (_, i) => 1 + i * step);

async function eventually(check: () => Promise<boolean>, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  for (;;) {
    if (await check()) return true;
    if (Date.now() > end) return false;
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Reads the sample on new connections: every one a memory hit with its demo body, and the store not asked. */
async function assertMemoryHits(base: string, ids: number[]): Promise<void> {
  const before = await storeCalls(base);
  const misses: string[] = [];
  for (const id of ids) {
    const r = await read(base, `/data?user_id=${id}`);
    assert.equal(r.status, 200, `user ${id}: ${r.status} ${r.body}`);
    assert.equal(r.body, demoBody(id));
    if (r.cache !== 'hit') misses.push(`${id}:${r.cache}`);
  }
  assert.deepEqual(misses, [], 'every read of a warmed id is a memory hit');
  assert.equal(await storeCalls(base), before, 'no store call while reading the warmed ids');
}

describe('floodgate warm', () => {
  it('against serve --workers 2: every worker holds the range, reads on either are memory hits and the store stays flat', async () => {
    await using srv = await serve({ args: ['--workers', '2', '--seed', String(N), '--warmup', '0'], env: ENV });
    assert.equal(await metric(srv.url, 'floodgate_memory_entries'), 0, 'nothing cached before the warm-up');
    const s = summary(await warm(['--url', srv.url, '--collection', 'default', '--range', `1-${N}`, '--batch', '300', '--json']));
    assert.equal(s.keys, N);
    assert.equal(s.found, N);
    assert.equal(s.missing, 0);
    assert.equal(s.bytes, N * 140);
    assert.equal(s.workers, 2, 'the server has two workers');
    assert.equal(s.workersHolding, 2, 'both hold every batch');
    assert.equal((s.memory as { fits: boolean }).fits, true);
    // Each worker can hold at most the N warmed keys, and nothing else was read: N + N entries means both hold all.
    assert.equal(await metric(srv.url, 'floodgate_memory_entries'), 2 * N);
    assert.equal(await metric(srv.url, 'floodgate_warmed_keys_total', { from: 'store' }), N, 'each key read from the store once');
    assert.equal(await metric(srv.url, 'floodgate_warmed_keys_total', { from: 'peer' }), N, 'and handed to the other worker');
    const queries = Array.from({ length: Math.ceil(N / 300) }, (_, i) => Math.ceil(Math.min(300, N - i * 300) / 250)).reduce((a, b) => a + b, 0);
    assert.equal(await metric(srv.url, 'floodgate_store_queries_total', { op: 'warm' }), queries, 'batched: at most 250 keys a store query');
    await assertMemoryHits(srv.url, sample(10));
  });

  it('two instances sharing one Redis: warmed through A, reads on B (both its workers) are memory hits and B never reads the store', async () => {
    await using redis = await startRedisServer();
    const dir = mkdtempSync(join(tmpdir(), 'fg-warm-shared-'));
    try {
      // A Redis deadline for a machine shared with other test runs (the 100 ms default is for production).
      const common = ['--data-dir', dir, '--redis-url', redis.url, '--warmup', '0', '--redis-timeout', '500ms'];
      await using a = await serve({ args: [...common, '--seed', String(N)], env: ENV });
      await using b = await serve({ args: [...common, '--workers', '2', '--seed', '0'], env: ENV });
      const bStoreBefore = await storeCalls(b.url);
      const s = summary(await warm(['--url', a.url, '--range', `1-${N}`, '--json']));
      assert.equal(s.found, N);
      assert.equal(s.announced, true, 'the other instances were told through Redis');
      assert.deepEqual(s.redis, ['stored']);
      // B's workers load the keys from Redis as the notices arrive: wait until both have all of them.
      assert.ok(await eventually(async () => (await metric(b.url, 'floodgate_warmed_keys_total', { from: 'redis' })) === 2 * N, 20_000), `B loaded ${await metric(b.url, 'floodgate_warmed_keys_total', { from: 'redis' })} of ${2 * N}`);
      assert.equal(await metric(b.url, 'floodgate_memory_entries'), 2 * N, 'both of B\'s workers hold every key');
      assert.equal(await storeCalls(b.url), bStoreBefore, 'B loaded the audience from Redis, never from the store');
      assert.equal(await metric(b.url, 'floodgate_warm_not_in_redis_total'), 0);
      await assertMemoryHits(b.url, sample(10));
      await assertMemoryHits(a.url, sample(40));
      // Redis gone: the warm-up still fills A's memory, and says what it could not do, without waiting on Redis.
      await redis.stop();
      const alone = summary(await warm(['--url', a.url, '--range', `1-${N}`, '--json']));
      assert.equal(alone.found, N);
      assert.deepEqual(alone.redis, ['unavailable']);
      assert.equal(alone.announced, false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a server without a memory tier (--cache-bytes 0): only Redis is filled, and no key is reported as changed meanwhile', async () => {
    await using redis = await startRedisServer();
    await using srv = await serve({ args: ['--seed', String(N), '--warmup', '0', '--cache-bytes', '0', '--redis-url', redis.url, '--redis-timeout', '500ms'], env: ENV });
    const r = await warm(['--url', srv.url, '--range', `1-${N}`]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /the tier is off \(--cache-bytes 0\): only Redis was filled/);
    assert.doesNotMatch(r.stdout, /changed meanwhile/, 'nothing was written meanwhile: no key was skipped as older');
    const s = summary(await warm(['--url', srv.url, '--range', `1-${N}`, '--json']));
    assert.equal(s.found, N);
    assert.equal(s.newer, 0);
    assert.deepEqual(s.redis, ['stored']);
  });

  it('an audience larger than --cache-bytes is reported: how much fits, how much does not, and what to raise it to', async () => {
    await using srv = await serve({ args: ['--seed', String(N), '--warmup', '0', '--cache-bytes', '128KiB'], env: ENV });
    const r = await warm(['--url', srv.url, '--range', `1-${N}`]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /memory: DOES NOT FIT: the audience needs [\d.]+ KiB per worker and --cache-bytes is 128\.0 KiB: about [\d,]+ keys \(\d+ %\) fit, [\d,]+ do not/);
    assert.match(r.stdout, /raise --cache-bytes to at least \d+MiB/);
    assert.match(r.stderr, /note: this audience needs about .* --cache-bytes is 128\.0 KiB/, 'said early, after the first batches');
    const s = summary(await warm(['--url', srv.url, '--range', `1-${N}`, '--json']));
    const m = s.memory as { fits: boolean; fitKeys: number; pushedOut: number; maxBytes: number; needBytes: number };
    assert.equal(m.fits, false);
    assert.equal(m.maxBytes, 128 * 1024);
    assert.ok(m.needBytes > m.maxBytes);
    assert.ok(m.fitKeys > 0 && m.fitKeys < N, JSON.stringify(m));
    assert.equal(m.fitKeys + m.pushedOut, N);
    const held = await metric(srv.url, 'floodgate_memory_entries');
    assert.ok(Math.abs(held - m.fitKeys) <= m.fitKeys * 0.2, `the tier holds ${held} entries; the estimate said ${m.fitKeys} fit`);
  });

  it('a store cut part-way: a clear error naming how far it got (exit 1); the server keeps serving', async () => {
    // A schema of this test's own (fg_it_warm_…), dropped at the end whatever happens.
    const schema = `fg_it_warm_${randomBytes(5).toString('hex')}`;
    const admin = postgres(PG_URL, { max: 1, onnotice: () => undefined });
    await using _dropped = {
      [Symbol.asyncDispose]: async () => {
        await admin.unsafe(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
        await admin.end({ timeout: 1 });
      },
    };
    await using proxy = await startTcpProxy({ port: 5432 });
    const url = `postgres://postgres@127.0.0.1:${proxy.port}/test`;
    await using srv = await serve({ args: ['--database-url', url, '--db-schema', schema, '--seed', String(N), '--warmup', '0'], env: ENV });
    const run = warm(['--url', srv.url, '--range', `1-${N}`, '--batch', '100', '--rate', '500']);
    // Some batches warmed, then the store goes away.
    assert.ok(await eventually(async () => (await metric(srv.url, 'floodgate_warmed_keys_total', { from: 'store' })) >= 200, 20_000), 'some batches were warmed');
    proxy.cut();
    const r = await run;
    assert.equal(r.status, 1, `${r.stderr}\n${r.stdout}`);
    const m = /stopped at batch (\d+), keys "(\d+)" to "(\d+)": the server answered 503 FG_ERR_STORE_\w+ after 3 tries a second apart: The store .*\n  warmed before it: ([\d,]+) keys in (\d+) batches \(found ([\d,]+), missing 0\); to go on, run the same command with --skip (\d+) \(warming a key twice is harmless\)/.exec(r.stderr);
    assert.ok(m, r.stderr);
    const [warmed, skip] = [Number((m[4] as string).replaceAll(',', '')), Number(m[7])];
    assert.ok(skip >= 200 && skip < N, r.stderr);
    assert.equal(Number(m[2]), skip + 1, 'the failed batch is the one right after the keys --skip passes over');
    // Two batches fly at once: the one after the failed batch may have been warmed too.
    assert.ok(warmed === skip || warmed === skip + 100, r.stderr);
    assert.match(r.stderr, /the server keeps serving what it holds/);
    // The server serves: healthz, and the warmed ids from memory while the store is gone.
    assert.equal((await read(srv.url, '/healthz')).status, 200);
    const hit = await read(srv.url, '/data?user_id=1');
    assert.deepEqual([hit.status, hit.cache, hit.body], [200, 'hit', demoBody(1)]);
    // Back: the rest warms with --skip, and every id reads.
    proxy.restore();
    assert.ok(await eventually(async () => (await read(srv.url, '/readyz')).status === 200, 15_000), 'the store is back');
    const rest = summary(await warm(['--url', srv.url, '--range', `1-${N}`, '--skip', String(skip), '--json']));
    assert.equal(rest.found, N - skip);
    assert.equal((await read(srv.url, `/data?user_id=${N}`)).cache, 'hit');
  });
});

describe('floodgate warm: bad input', () => {
  let srv: Served;
  let dir: string;
  before(async () => {
    srv = await serve({ args: ['--seed', '50', '--warmup', '0'], env: ENV });
    dir = mkdtempSync(join(tmpdir(), 'fg-warm-'));
  });
  after(async () => {
    await srv?.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  const file = (name: string, text: string): string => {
    const f = join(dir, name);
    writeFileSync(f, text);
    return f;
  };
  const refused = async (args: string[], pattern: RegExp, opts?: { token?: string | undefined; input?: string }): Promise<void> => {
    const r = await warm(args, opts);
    assert.equal(r.status, 2, `${args.join(' ')}: exit ${r.status}\n${r.stderr}${r.stdout}`);
    assert.match(r.stderr, pattern);
    assert.equal(r.stdout, '', 'nothing warmed, no summary');
  };

  it('reads ids from a file, a CSV column and standard input', async () => {
    const lines = summary(await warm(['--url', srv.url, '--ids', file('ids.txt', '1\r\n2\n\n3\n999\n'), '--json']));
    assert.deepEqual([lines.keys, lines.found, lines.missing], [4, 3, 1]);
    const csv = summary(await warm(['--url', srv.url, '--ids', file('aud.csv', 'name,user_id\n"a, b",4\nc,5\n'), '--column', 'user_id', '--json']));
    assert.deepEqual([csv.keys, csv.found], [2, 2]);
    const keyCol = summary(await warm(['--url', srv.url, '--ids', file('keys.csv', 'key,body\n6,x\n7,y\n'), '--json']));
    assert.deepEqual([keyCol.keys, keyCol.found], [2, 2], 'a .csv reads the key column by default');
    const piped = summary(await warm(['--url', srv.url, '--ids', '-', '--json'], { token: TOKEN, input: '8\n9\n10\n' }));
    assert.deepEqual([piped.keys, piped.found], [3, 3]);
    const all = summary(await warm(['--url', srv.url, '--all', '--json']));
    assert.deepEqual([all.keys, all.found], [50, 50]);
    assert.equal((await read(srv.url, '/data?user_id=50')).cache, 'hit');
  });

  it('a bad or missing ids file, an empty audience: exit 2 naming the file and line', async () => {
    await refused(['--url', srv.url, '--ids', join(dir, 'nope.txt')], /--ids: cannot read .*nope\.txt: no such file/);
    await refused(['--url', srv.url, '--ids', dir], /is a directory/);
    await refused(['--url', srv.url, '--ids', file('bad.txt', '1\n2\nthree\u0007\n4\n')], /bad\.txt:3: the key contains a control character/);
    await refused(['--url', srv.url, '--ids', file('long.txt', `1\n${'x'.repeat(300)}\n`)], /long\.txt:2: the key is longer than 256 bytes/);
    await refused(['--url', srv.url, '--ids', file('empty.txt', '\n\n')], /the audience is empty: .*empty\.txt holds no keys/);
    await refused(['--url', srv.url, '--ids', file('nocol.csv', 'id,name\n1,a\n')], /nocol\.csv:1: the header row names "id", "name", not "key"; name the ids' column with --column/);
    await refused(['--url', srv.url, '--ids', file('blank.csv', 'key\n1\n""\n')], /blank\.csv:3: the key column is empty/);
    await refused(['--url', srv.url, '--ids', '-'], /the audience is empty: standard input holds no keys/, { token: TOKEN, input: '\n' });
    await refused(['--url', srv.url, '--range', '10-1'], /--range: '10-1': the last id is below the first/);
    await refused(['--url', srv.url, '--range', 'a-b'], /--range: 'a-b' is not a range of ids/);
    await refused(['--url', srv.url], /name the audience: --ids FILE/);
    await refused(['--url', srv.url, '--range', '1-5', '--all'], /--range and --all each name the whole audience; give one/);
    await refused(['--url', srv.url, '--range', '1-5', '--rate', 'fast'], /--rate: 'fast'/);
    await refused(['--url', srv.url, '--range', '1-5', '--batch', '20000'], /--batch: '20000': from 1 to 10000/);
    await refused(['--url', srv.url, '--range', '1-5', '--rat', '5'], /unknown option '--rat' \(did you mean --rate\?\)/);
  });

  it('an unknown collection, a bad URL, a missing or wrong token: exit 2 with what to fix', async () => {
    await refused(['--url', srv.url, '--collection', 'defualt', '--range', '1-5'], /--collection defualt: No collection "defualt".*Did you mean default\?/);
    await refused(['--url', srv.url, '--collection', 'no/such', '--range', '1-5'], /--collection: 'no\/such' is not a collection name/);
    await refused(['--url', 'localhost:8080', '--range', '1-5'], /--url: 'localhost:8080' is localhost: not http: or https:/);
    await refused(['--url', 'not a url', '--range', '1-5'], /--url: 'not a url' is not a URL; write it as http:\/\/HOST:PORT/);
    await refused(['--url', `${srv.url}/data`, '--range', '1-5'], /give the server only/);
    await refused(['--url', `http://127.0.0.1:${await freePort()}`, '--range', '1-5'], /cannot reach http:\/\/127\.0\.0\.1:\d+: nothing listens there \(connection refused\); check --url/);
    await refused(['--url', srv.url, '--range', '1-5'], /FLOODGATE_ADMIN_TOKEN is not set/, { token: undefined });
    await refused(['--url', srv.url, '--range', '1-5'], /refused the admin token \(401\): FLOODGATE_ADMIN_TOKEN is not the token the server was started with/, { token: 'wrong' });
    await using open = await serve({ args: ['--seed', '5', '--warmup', '0'] });
    await refused(['--url', open.url, '--range', '1-5'], /has no admin token .* refuses warm-ups \(403\)/);
  });

  it('the endpoint refuses bad requests with 4xx JSON errors and warms nothing', async () => {
    const post = async (body: string, headers: Record<string, string> = {}, collection = 'default'): Promise<{ status: number; code: string }> => {
      const res = await fetch(`${srv.url}/v1/content/${collection}/_warm`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json', ...headers }, body });
      assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
      const json = (await res.json()) as { error?: { code: string; message: string } };
      return { status: res.status, code: json.error?.code ?? 'none' };
    };
    const before = await metric(srv.url, 'floodgate_store_queries_total', { op: 'warm' });
    assert.deepEqual(await post('{"keys":["1"]}', { authorization: 'Bearer nope' }), { status: 401, code: 'FG_ERR_UNAUTHORIZED' });
    assert.deepEqual(await post('{"keys":["1"]}', { 'content-type': 'text/plain' }), { status: 415, code: 'FG_ERR_UNSUPPORTED_MEDIA_TYPE' });
    assert.deepEqual(await post('{"keys":'), { status: 400, code: 'FG_ERR_BAD_REQUEST' });
    assert.deepEqual(await post('[1,2]'), { status: 400, code: 'FG_ERR_BAD_REQUEST' });
    assert.deepEqual(await post('{"keys":"1"}'), { status: 400, code: 'FG_ERR_BAD_REQUEST' });
    assert.deepEqual(await post('{"keys":["1", 2]}'), { status: 400, code: 'FG_ERR_INVALID_KEY' });
    assert.deepEqual(await post('{"keys":["1", ""]}'), { status: 400, code: 'FG_ERR_INVALID_KEY' });
    assert.deepEqual(await post(JSON.stringify({ keys: Array.from({ length: 10_001 }, (_, i) => String(i)) })), { status: 400, code: 'FG_ERR_BAD_REQUEST' });
    assert.deepEqual(await post('{"keys":[],"after":0}'), { status: 400, code: 'FG_ERR_BAD_REQUEST' });
    assert.deepEqual(await post('{"after":-1}'), { status: 400, code: 'FG_ERR_BAD_REQUEST' });
    assert.deepEqual(await post('{"after":0,"limit":0}'), { status: 400, code: 'FG_ERR_BAD_REQUEST' });
    assert.deepEqual(await post('{"keys":["1"]}', {}, 'nosuch'), { status: 404, code: 'FG_ERR_UNKNOWN_COLLECTION' });
    assert.deepEqual(await post('{"keys":[]}', {}, 'bad%2Fname'), { status: 400, code: 'FG_ERR_INVALID_COLLECTION' });
    assert.equal(await metric(srv.url, 'floodgate_store_queries_total', { op: 'warm' }), before, 'no refused request read the store');
    const probe = await fetch(`${srv.url}/v1/content/default/_warm`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }, body: '{"keys":[],"count":true}' });
    const state = (await probe.json()) as { records: number; memory: { maxBytes: number } };
    assert.equal(state.records, 50);
    assert.equal(state.memory.maxBytes, 256 * 1024 * 1024);
    assert.equal((await read(srv.url, '/healthz')).status, 200, 'the server survived all of it');
  });

  it('--help teaches: the audience forms, the rate, what happens, exit statuses, examples', async () => {
    const r = await warm(['--help']);
    assert.equal(r.status, 0);
    for (const part of ['--ids FILE', '--column NAME', '--range FIRST-LAST', '--all', '--rate N', 'FLOODGATE_ADMIN_TOKEN', 'Exit status', 'Examples:', 'fits', 'Redis']) assert.ok(r.stdout.toLowerCase().includes(part.toLowerCase()), part);
  });
});
