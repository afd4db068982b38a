// Issue 11, point 4: `serve --preload C1,C2` streams store collections into every worker's memory tier before
// it listens: then every read of them is a memory hit, on every worker, with no store read; within the byte
// budget (what does not fit is logged and read on demand); a collection that cannot be preloaded is a start-up
// error; and a write during the preload wins over the older copy it read. Real `floodgate serve` processes;
// which worker holds a connection is read from the kernel (ss -tnp).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { demoBody } from '../../src/content/demo.ts';
import { metric, serve, serveExpectingExit, type Served } from '../support/serve.ts';
import { pgArgs, pgSchema, Resources, within } from './helpers.ts';

interface Answer { status: number; body: string; cache: string; workerPid: number }

/** The worker pid holding each local port of ours (ss once per connection). */
const owners = new Map<number, number>();

function ownerOf(serverPort: number, clientPort: number): number {
  const out = spawnSync('ss', ['-Htnp', 'state', 'established', `( sport = :${serverPort} and dport = :${clientPort} )`]).stdout.toString();
  return Number(/pid=(\d+)/.exec(out)?.[1] ?? 0);
}

function send(url: string, agent: Agent): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const req = request(u, { agent }, (res) => {
      const local = res.socket.localPort ?? 0;
      let workerPid = owners.get(local);
      if (workerPid === undefined) owners.set(local, (workerPid = ownerOf(Number(u.port), local)));
      const chunks: Buffer[] = [];
      res.on('data', (d: Buffer) => chunks.push(d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString(), cache: String(res.headers['x-cache']), workerPid }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

function workerPids(primary: number): number[] {
  const out = spawnSync('ps', ['--ppid', String(primary), '-o', 'pid=']).stdout.toString();
  return out.split('\n').map((s) => Number(s.trim())).filter((n) => n > 0);
}

/** A keep-alive connection to each worker: new agents until each worker holds one. */
async function agentPerWorker(srv: Served, workers: number): Promise<Map<number, Agent>> {
  const pids = workerPids(srv.pid);
  assert.equal(pids.length, workers, `${workers} workers`);
  const agents = new Map<number, Agent>();
  for (let i = 0; i < 200 && agents.size < pids.length; i++) {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const { workerPid } = await send(`${srv.url}/healthz`, agent);
    if (pids.includes(workerPid) && !agents.has(workerPid)) agents.set(workerPid, agent);
    else agent.destroy();
  }
  assert.equal(agents.size, pids.length, `a connection to every worker (${pids})`);
  return agents;
}

/** Every worker listens (the primary prints its line once all are ready; serve() returns at the first). */
async function allListening(srv: Served): Promise<void> {
  assert.ok(await within(60_000, () => srv.stdout().includes('floodgate is serving'), 20), `not every worker started:\n${srv.stderr()}${srv.stdout().slice(-3000)}`);
}

interface Preloaded { pid: number; level: number; entries: number; skipped: number; notFit: number; records: number; bytes: number; ms: number; collections: { collection: string; firstNotFit?: string }[]; msg: string }

/** The workers' "preloaded" log lines. */
function preloadedLines(srv: Served): Preloaded[] {
  return srv.stdout().split('\n').filter((l) => l.includes('"event":"preloaded"')).map((l) => JSON.parse(l) as Preloaded);
}

const storeGets = (url: string): Promise<number> => metric(url, 'floodgate_store_queries_total', { op: 'get' });

const USERS = 20_000;
/** A spread of demo ids over the whole range. */
const SAMPLE = Array.from({ length: 250 }, (_, i) => ((i * 7919) % USERS) + 1);

describe('serve --preload', () => {
  const res = new Resources();
  after(() => res.dispose());

  it('two workers: every sampled id is a memory hit on each worker, and the store is not read', async (t) => {
    const srv = res.use(await serve({ args: ['--workers', '2', '--seed', String(USERS), '--preload', 'default', '--cache-bytes', '64MiB', '--log-level', 'info'] }));
    await allListening(srv);
    const lines = preloadedLines(srv);
    assert.equal(lines.length, 2, 'one line per worker');
    assert.deepEqual(new Set(lines.map((l) => l.pid)), new Set(workerPids(srv.pid)));
    for (const l of lines) {
      assert.equal(l.entries + l.skipped, USERS, 'every record (those the warm-up had already read are skipped: the tier holds them)');
      assert.deepEqual([l.notFit, l.records, l.collections.map((c) => c.collection)], [0, USERS, ['default']]);
      assert.equal(l.level, 30, 'info: everything fit');
      t.diagnostic(`worker ${l.pid}: ${l.msg}`);
    }
    assert.ok((await metric(srv.url, 'floodgate_memory_entries')) >= 2 * USERS, 'both tiers hold the collection');

    const agents = await agentPerWorker(srv, 2);
    const before = await storeGets(srv.url);
    for (const [pid, agent] of agents) {
      for (const id of SAMPLE) {
        const r = await send(`${srv.url}/data?user_id=${id}`, agent);
        assert.equal(r.workerPid, pid);
        assert.deepEqual([r.status, r.cache, r.body], [200, 'hit', demoBody(id)], `id ${id} on worker ${pid}`);
      }
      agent.destroy();
    }
    assert.equal(await storeGets(srv.url), before, 'no store read for any of them');
    // The control: an id that is not in the store is read from it.
    await send(`${srv.url}/data?user_id=${USERS + 1}`, new Agent());
    assert.ok((await storeGets(srv.url)) > before, 'the counter counts');
  });

  it('a small --cache-bytes: loads what fits, logs what did not (from which key on), serves the rest as misses', async (t) => {
    const srv = res.use(await serve({ args: ['--workers', '1', '--seed', String(USERS), '--preload', 'default', '--cache-bytes', '1MiB', '--log-level', 'info'] }));
    const [line] = preloadedLines(srv);
    assert.ok(line, srv.stdout());
    t.diagnostic(line.msg);
    assert.equal(line.level, 40, 'a warning');
    assert.ok(line.entries > 1000 && line.entries < USERS / 2, `some fit (${line.entries})`);
    assert.equal(line.entries + line.skipped + line.notFit, USERS, 'loaded + already held + did not fit = the collection');
    assert.ok(line.bytes <= 1024 * 1024);
    assert.match(line.msg, /preload stopped at the memory budget .* did not fit \(default from key ".+" on\)/);
    // Keys are preloaded in key order (text order: "1", "10", "100", …): those before the first that did not fit are in.
    const order = Array.from({ length: USERS }, (_, i) => String(i + 1)).sort();
    const cut = order.indexOf(line.collections[0]?.firstNotFit ?? '');
    assert.equal(cut, line.entries + line.skipped, 'the first that did not fit follows the last that did');
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const before = await storeGets(srv.url);
    for (const key of order.slice(0, cut).filter((_, i) => i % 20 === 0)) {
      const r = await send(`${srv.url}/data?user_id=${key}`, agent);
      assert.deepEqual([r.status, r.cache, r.body], [200, 'hit', demoBody(Number(key))], `preloaded ${key}`);
    }
    assert.equal(await storeGets(srv.url), before);
    // The warm-up read the newest records (the highest ids) before the preload: leave them out of the misses.
    const notLoaded = order.slice(cut).filter((k) => Number(k) < USERS - 1000).filter((_, i) => i % 200 === 0);
    for (const key of notLoaded) {
      const r = await send(`${srv.url}/data?user_id=${key}`, agent);
      assert.deepEqual([r.status, r.cache, r.body], [200, 'miss', demoBody(Number(key))], `not preloaded ${key}`);
    }
    assert.equal(await storeGets(srv.url), before + notLoaded.length, 'each read from the store');
    agent.destroy();
  });

  it('a collection that cannot be preloaded: one line, printed once, exit 2', async () => {
    const dir = join(process.env.TMPDIR ?? '/tmp', `fg-preload-${process.pid}`);
    spawnSync('mkdir', ['-p', dir]);
    const file = join(dir, 'collections.json');
    writeFileSync(file, JSON.stringify({ collections: { reports: { query: 'SELECT body FROM content WHERE key = ?' }, weather: { origin: 'http://127.0.0.1:9/w/{key}', originTimeout: '200ms' } } }));
    const cases: [string[], RegExp][] = [
      [['--preload', 'defualt'], /^floodgate serve: --preload: no collection "defualt": the collections file does not define it and the store holds no record in it \(did you mean default\?\)$/],
      [['--preload', 'default,reports', '--collections', file], /^floodgate serve: --preload: collection reports is a read-only SQL collection: .*only collections the store holds can be preloaded$/],
      [['--preload', 'weather', '--collections', file], /^floodgate serve: --preload: collection weather is an origin collection: .*only collections the store holds can be preloaded$/],
      [['--preload', 'default', '--cache-bytes', '0'], /^floodgate serve: --preload: the memory tier is off \(--cache-bytes 0\)/],
      [['--preload', 'no good'], /^floodgate serve: --preload: "no good" is not a collection name/],
    ];
    for (const [args, expected] of cases) {
      const r = await serveExpectingExit({ args: ['--workers', '2', ...args] });
      const out = (r.stderr + r.stdout).split('\n').filter((l) => l.trim() !== '');
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.equal(out.length, 1, `one line for ${args.join(' ')}:\n${out.join('\n')}`);
      assert.match(out[0] ?? '', expected);
    }
    const env = await serveExpectingExit({ args: ['--workers', '2'], env: { FLOODGATE_PRELOAD: 'defualt' } });
    assert.equal(env.code, 2);
    assert.match(env.stderr, /--preload: no collection "defualt"/);
  });
});

describe('serve --preload while the store changes (PostgreSQL, plain SQL writes during the preload)', () => {
  const res = new Resources();
  after(() => res.dispose());

  it('a change that lands while the preload runs wins over the older copy it read, on every worker', async (t) => {
    const schema = res.use(pgSchema());
    const records = 100_000;
    const table = `"${schema.name}".content`;
    // --store-timeout 5s: the subject here is changes racing the preload, not a slow store. Under the whole suite
    // in parallel a first page took over 1 s three times on both workers, the preload gave up with 0 entries (as it
    // should, and says), and the test then found nothing in memory.
    const starting = serve({ args: [...pgArgs(schema.name), '--workers', '2', '--seed', String(records), '--preload', 'default', '--ttl', '10m', '--store-timeout', '5s', '--log-level', 'info'], readyTimeoutMs: 120_000 });
    // Once the primary has seeded, rewrite keys one at a time, each once, in an order spread over the key range,
    // until the server is ready: the workers' preloads run meanwhile, and read many of the keys just before
    // (or just after) each change. Each change reaches them on the change feed.
    const count = async (): Promise<number> => Number((await schema.sql.unsafe(`SELECT count(*) AS n FROM ${table}`).catch(() => [{ n: 0 }]))[0]?.n);
    const seeded = await within(120_000, async () => (await count()) === records, 20);
    if (seeded === undefined) res.use(await starting);
    assert.ok(seeded !== undefined, 'seeded');
    let ready = false;
    const written: string[] = [];
    const writer = (async () => {
      for (let i = 0; !ready && i < records; i++) {
        const key = String(((i * 7919) % records) + 1);
        await schema.sql.unsafe(`UPDATE ${table} SET body = $1 WHERE collection = 'default' AND key = $2`, [Buffer.from(`changed ${key}`), key]);
        written.push(key);
      }
    })();
    const srv = res.use(await starting);
    await allListening(srv);
    ready = true;
    await writer;
    const lines = preloadedLines(srv);
    t.diagnostic(`${written.length} keys changed while the server started; ${lines.map((l) => l.msg).join('; ')}`);
    assert.equal(lines.length, 2);
    assert.ok(written.length > 100, 'changes landed while it started');
    const agents = await agentPerWorker(srv, 2);
    // The feed delivers within a second; an older copy kept by the preload would stay for the 10-minute TTL.
    for (const [pid, agent] of agents) {
      const wrong: string[] = [];
      const settled = await within(5000, async () => {
        wrong.length = 0;
        for (const key of written) {
          const r = await send(`${srv.url}/data?user_id=${key}`, agent);
          if (r.body !== `changed ${key}`) wrong.push(`${key}: ${r.cache} ${r.body.slice(0, 20)}`);
        }
        return wrong.length === 0;
      }, 200);
      assert.ok(settled !== undefined, `worker ${pid} still serves the preloaded copy of ${wrong.length} changed keys: ${wrong.slice(0, 5).join(', ')}`);
      // And the rest of the collection is in memory.
      for (const id of SAMPLE.filter((k) => !written.includes(String(k))).slice(0, 50)) {
        const r = await send(`${srv.url}/data?user_id=${id}`, agent);
        assert.deepEqual([r.cache, r.body], ['hit', demoBody(id)], `id ${id} on worker ${pid}`);
      }
      agent.destroy();
    }
  });
});
