// Issue 14, point 3: a worker SIGKILLed in the middle of a bulk import (SQLite, two workers) must not leave
// the other worker serving the old bodies of what the import had already committed. Each batch is announced
// over IPC as it commits, and the primary, seeing the worker die, has the others catch up from the store.
// Real processes throughout; which worker holds a connection is read from the kernel (ss -tnp).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { Agent, request } from 'node:http';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { after, describe, it } from 'node:test';
import { eventually, startServe, type Server } from './helpers.ts';

const TOKEN = 't0ken';
/** Records imported first (the "old" bodies), and in the big import that is killed (the "new" ones). */
const KEYS = 20_000;
const IMPORT_LINES = 400_000;
/** Every STEP-th key is read through the surviving worker before the import, so it holds it in memory. */
const STEP = 10;

const servers: Server[] = [];
after(async () => {
  await Promise.all(servers.map((s) => s.kill()));
});

interface Answer { status: number; body: string; workerPid: number }

/** The local port of each agent's connection, and the worker that holds it (so ss runs once per connection). */
const known = new Map<number, number>();

/** One request over `agent`; tells which worker process holds the connection (the server end's owner, by ss). */
function send(url: string, agent: Agent, opts: { method?: string; body?: string } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const headers: Record<string, string> = opts.body === undefined ? {} : { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/x-ndjson' };
    const req = request(u, { agent, method: opts.method ?? 'GET', headers }, (res) => {
      const local = res.socket.localPort ?? 0;
      let workerPid = known.get(local);
      if (workerPid === undefined) known.set(local, (workerPid = ownerOf(Number(u.port), local)));
      const chunks: Buffer[] = [];
      res.on('data', (d: Buffer) => chunks.push(d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString(), workerPid }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(opts.body);
  });
}

/** The pid of the process holding the server end of the connection 127.0.0.1:clientPort → serverPort. */
function ownerOf(serverPort: number, clientPort: number): number {
  const out = spawnSync('ss', ['-Htnp', 'state', 'established', `( sport = :${serverPort} and dport = :${clientPort} )`]).stdout.toString();
  return Number(/pid=(\d+)/.exec(out)?.[1] ?? 0);
}

/** A keep-alive connection per worker: new agents until each worker holds one. */
async function connectionPerWorker(url: string, pids: number[]): Promise<Map<number, Agent>> {
  const agents = new Map<number, Agent>();
  for (let i = 0; i < 100 && agents.size < pids.length; i++) {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const { workerPid } = await send(`${url}/healthz`, agent);
    if (pids.includes(workerPid) && !agents.has(workerPid)) agents.set(workerPid, agent);
    else agent.destroy();
  }
  assert.equal(agents.size, pids.length, `no connection reached every worker (${pids})`);
  return agents;
}

const ndjson = (from: number, to: number, body: (i: number) => string): string => {
  const lines: string[] = [];
  for (let i = from; i <= to; i++) lines.push(JSON.stringify({ key: `k${i}`, body: body(i) }));
  return `${lines.join('\n')}\n`;
};

describe('a worker killed mid-import (SQLite, two workers)', () => {
  it('every record the import committed reads back new on every worker', async (t) => {
    const s = await startServe(['--workers', '2', '--ttl', '600s', '--stale-ttl', '600s', '--warmup', '0'], { FLOODGATE_ADMIN_TOKEN: TOKEN });
    servers.push(s);
    const pids = s.workers();
    assert.equal(pids.length, 2);
    const agents = await connectionPerWorker(s.url, pids);
    const [writerPid, readerPid] = pids as [number, number];
    const writer = agents.get(writerPid) as Agent;
    const reader = agents.get(readerPid) as Agent;

    const seeded = await send(`${s.url}/v1/content/news/_bulk`, writer, { method: 'POST', body: ndjson(1, KEYS, (i) => `old-${i}`) });
    assert.equal(seeded.status, 200, seeded.body);
    const db = new DatabaseSync(join(s.dataDir, 'floodgate.db'), { readOnly: true });
    t.after(() => db.close());
    const maxVersion = (): number => Number((db.prepare('SELECT max(version) AS v FROM content').get() as { v: number }).v);
    const seededVersion = maxVersion();

    // The reader worker holds every STEP-th key in memory (a second read answers from it).
    for (let i = 1; i <= KEYS; i += STEP) {
      const r = await send(`${s.url}/v1/content/news/k${i}`, reader);
      assert.equal(r.workerPid, readerPid);
      assert.equal(r.body, `old-${i}`);
    }

    // The big import (keys k1.. again, then new ones) on the writer; SIGKILL it once a batch has committed.
    const importing = send(`${s.url}/v1/content/news/_bulk`, writer, { method: 'POST', body: ndjson(1, IMPORT_LINES, (i) => `new-${i}`) }).catch((err: unknown) => err);
    assert.ok(await eventually(() => maxVersion() > seededVersion, 60_000), 'the import never committed a batch');
    process.kill(writerPid, 'SIGKILL');
    const cut = await importing;
    assert.ok(cut instanceof Error, `the import was cut off by the kill, not answered: ${JSON.stringify(cut).slice(0, 300)}`);
    assert.ok(await eventually(() => { const w = s.workers(); return w.length === 2 && !w.includes(writerPid); }, 10_000), `not replaced: ${s.workers()}`);

    const committed = maxVersion() - seededVersion;
    t.diagnostic(`the import committed ${committed} of ${IMPORT_LINES} records before the kill`);
    assert.ok(committed > 0 && committed < IMPORT_LINES, `killed mid-way (${committed} of ${IMPORT_LINES} committed)`);
    const stored = db.prepare('SELECT body FROM content WHERE collection = ? AND key = ?');
    const storedBody = (i: number): string => Buffer.from((stored.get('news', `k${i}`) as { body: Uint8Array }).body).toString();
    const newInStore = Array.from({ length: KEYS }, (_, i) => i + 1).filter((i) => storedBody(i).startsWith('new-'));
    assert.ok(newInStore.length > 0, 'some cached keys were overwritten by the committed batches');

    // The surviving worker: what it was told (the batches announced as they committed, and the catch-up from
    // the store that the primary asks for when the writer dies) arrives over IPC, so it is polled for; with the
    // TTL at 10 minutes, an old body after 15 s is the bug. Every sampled key must read what the store holds.
    let wrongOnReader: string[] = [];
    const caughtUp = await eventually(async () => {
      wrongOnReader = [];
      for (let i = 1; i <= KEYS; i += STEP) {
        const r = await send(`${s.url}/v1/content/news/k${i}`, reader);
        assert.equal(r.workerPid, readerPid, 'the reader connection is still on the surviving worker');
        if (r.body !== storedBody(i)) wrongOnReader.push(`k${i}: ${r.body} (store: ${storedBody(i)})`);
      }
      return wrongOnReader.length === 0;
    }, 15_000);
    assert.ok(caughtUp, `${wrongOnReader.length} keys older than the store on the surviving worker: ${wrongOnReader.slice(0, 3)}`);

    // The replacement, reached on a connection of its own.
    const replacement = s.workers().find((p) => p !== readerPid) as number;
    const fresh = await connectionPerWorker(s.url, [readerPid, replacement]);
    for (const i of newInStore.slice(0, 200)) {
      const r = await send(`${s.url}/v1/content/news/k${i}`, fresh.get(replacement) as Agent);
      assert.equal(r.body, `new-${i}`);
    }
    for (const a of [...agents.values(), ...fresh.values()]) a.destroy();
  });
});
