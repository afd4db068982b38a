// npm run bench:faults: the whole system under faults, one row each, with the figures that matter afterwards:
// requests made and failed during the row, writes acknowledged (PUT 200/201) and then lost (the store does not
// hold them byte for byte) or read stale (an HTTP read after the fault answers an older write), and processes
// that crashed other than the one killed on purpose. Every row runs against real processes on loopback: a
// 2-worker `floodgate serve`, a private redis-server or PostgreSQL (never the shared ones), a 2 MiB tmpfs.
//   FAULTS_SECONDS  traffic per row (default 8)
//   FAULTS_ROWS     comma-separated subset of the row names
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStore, type StoreOptions } from '../src/store/open.ts';
import { startServe, type Server } from '../test/lifecycle/helpers.ts';
import { startRedisServer } from '../test/support/redis-server.ts';
import { CORPUS, judgeRaw, sendRaw } from '../test/hostile/corpus.ts';
import { table } from './load.ts';
import { TOKEN, Traffic, type Audit } from './faults-traffic.ts';
import { startPrivatePostgres } from './private-postgres.ts';

const SECONDS = Number(process.env.FAULTS_SECONDS ?? 8);
const ONLY = process.env.FAULTS_ROWS?.split(',');
const USERS = 1000;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const at = (ms: number, what: () => unknown): Promise<void> => sleep(ms).then(async () => void (await what()));

interface Row {
  row: string;
  requests: number;
  failed: number;
  'acked writes': number;
  'lost writes': number;
  'stale reads after': number;
  crashed: number;
  note: string;
}

/** Worker deaths in the server's log, and the primary if it is gone; `intended` of them were ours. */
function crashes(s: Server, intended: number): number {
  const died = s.output().match(/worker died/g)?.length ?? 0;
  return Math.max(0, died - intended) + (s.child.exitCode !== null || s.child.signalCode !== null ? 1 : 0);
}

async function storeReader(opts: StoreOptions): Promise<{ read: (c: string, k: string) => Promise<string | undefined>; close: () => Promise<void> }> {
  const store = await openStore(opts);
  return { read: async (c, k) => (await store.get(c, k))?.body.toString(), close: () => store.close() };
}

async function serve(args: string[], dataDir: string, env: Record<string, string> = {}): Promise<Server> {
  return startServe(['--workers', '2', '--seed', String(USERS), '--data-dir', dataDir, '--warmup', '100', '--store-timeout', '500ms', ...args], { FLOODGATE_ADMIN_TOKEN: TOKEN, ...env });
}

/** One row: traffic for SECONDS with `fault` running alongside, then the audit against the store. */
async function run(name: string, s: Server, fault: (t: Traffic) => Promise<string | void>, store: () => Promise<Awaited<ReturnType<typeof storeReader>>>, intended = 0, users = USERS, bodyBytes = 64): Promise<Row> {
  const t = new Traffic(s.url, { tag: name.replace(/[^A-Za-z0-9]+/g, '-'), users, bodyBytes });
  const [note] = await Promise.all([fault(t), sleep(SECONDS * 1000)]);
  await t.stop();
  await sleep(500); // let invalidations land before reading back
  const reader = await store();
  let audit: Audit;
  try {
    audit = await t.audit(reader.read);
  } finally {
    await reader.close();
  }
  return { row: name, requests: t.requests, failed: t.failed, 'acked writes': audit.acked, 'lost writes': audit.lost, 'stale reads after': audit.stale, crashed: crashes(s, intended), note: `${note ?? ''}${audit.unreadable > 0 ? `; ${audit.unreadable} keys unreadable right after` : ''}${audit.examples.length > 0 ? `; lost: ${audit.examples.join('; ')}` : ''}` };
}

const ROWS: Record<string, () => Promise<Row>> = {
  async 'redis killed'() {
    await using redis = await startRedisServer();
    const dir = mkdtempSync(join(tmpdir(), 'hostile-faults-'));
    const s = await serve(['--redis-url', redis.url], dir);
    try {
      return await run('redis killed', s, async () => {
        await at(2000, () => redis.stop());
        await at(3000, () => redis.restart());
        return 'SIGKILL at 2 s, back (empty) at 5 s';
      }, () => storeReader({ databaseUrl: '', dataDir: dir }));
    } finally {
      await s.kill();
      rmSync(dir, { recursive: true, force: true });
    }
  },
  async 'postgres killed'() {
    await using pg = await startPrivatePostgres();
    const dir = mkdtempSync(join(tmpdir(), 'hostile-faults-'));
    const s = await serve(['--database-url', pg.url, '--db-schema', 'faults'], dir);
    try {
      return await run('postgres killed', s, async () => {
        await at(2000, () => pg.kill());
        await at(3000, () => pg.start());
        return 'SIGKILL of postmaster + backends at 2 s, restarted at 5 s';
      }, () => storeReader({ databaseUrl: pg.url, dataDir: dir, schema: 'faults' }));
    } finally {
      await s.kill();
      rmSync(dir, { recursive: true, force: true });
    }
  },
  async 'postgres frozen'() {
    await using pg = await startPrivatePostgres();
    const dir = mkdtempSync(join(tmpdir(), 'hostile-faults-'));
    const s = await serve(['--database-url', pg.url, '--db-schema', 'faults'], dir);
    try {
      return await run('postgres frozen', s, async () => {
        await at(2000, () => pg.freeze());
        await at(3000, () => pg.thaw());
        return 'SIGSTOP at 2 s, SIGCONT at 5 s';
      }, () => storeReader({ databaseUrl: pg.url, dataDir: dir, schema: 'faults' }));
    } finally {
      await s.kill();
      rmSync(dir, { recursive: true, force: true });
    }
  },
  async 'worker SIGKILL mid-import'() {
    const dir = mkdtempSync(join(tmpdir(), 'hostile-faults-'));
    const s = await serve([], dir);
    try {
      return await run('worker SIGKILL mid-import', s, async (t) => {
        const lines = Array.from({ length: 200_000 }, (_, i) => JSON.stringify({ key: `imp${i}`, body: `imported ${i}` })).join('\n');
        await sleep(1000);
        const bulk = fetch(`${s.url}/v1/content/imports/_bulk`, { method: 'POST', body: lines, headers: { Authorization: `Bearer ${TOKEN}` } }).then((r) => r.status === 200, () => false);
        await sleep(300);
        const victim = s.workers()[0];
        if (victim !== undefined) process.kill(victim, 'SIGKILL');
        t.count(await bulk);
        return 'a 200,000-line _bulk; one worker SIGKILLed 300 ms into it';
      }, () => storeReader({ databaseUrl: '', dataDir: dir }), 1);
    } finally {
      await s.kill();
      rmSync(dir, { recursive: true, force: true });
    }
  },
  async 'rolling restart'() {
    const dir = mkdtempSync(join(tmpdir(), 'hostile-faults-'));
    const s = await serve([], dir);
    try {
      return await run('rolling restart', s, async () => {
        await at(1500, () => process.kill(s.pid, 'SIGHUP'));
        return 'SIGHUP to the primary at 1.5 s (each worker replaced, then drained)';
      }, () => storeReader({ databaseUrl: '', dataDir: dir }));
    } finally {
      await s.kill();
      rmSync(dir, { recursive: true, force: true });
    }
  },
  async '500 slowloris'() {
    const dir = mkdtempSync(join(tmpdir(), 'hostile-faults-'));
    const s = await serve(['--headers-timeout', '2s'], dir);
    const sockets: Socket[] = [];
    const timers: NodeJS.Timeout[] = [];
    try {
      return await run('500 slowloris', s, async () => {
        await sleep(1000);
        const port = Number(new URL(s.url).port);
        for (let i = 0; i < 500; i++) {
          const so = connect(port, '127.0.0.1');
          so.on('error', () => undefined);
          so.on('connect', () => {
            so.write('GET /data?user_id=1 HTTP/1.1\r\nHost: x\r\n');
            timers.push(setInterval(() => so.destroyed || so.write('X'), 500));
          });
          sockets.push(so);
        }
        return '500 connections sending a header byte every 500 ms from 1 s; header timeout 2 s';
      }, () => storeReader({ databaseUrl: '', dataDir: dir }));
    } finally {
      for (const tm of timers) clearInterval(tm);
      for (const so of sockets) so.destroy();
      await s.kill();
      rmSync(dir, { recursive: true, force: true });
    }
  },
  async 'disk-full SQLite'() {
    const mount = '/tmp/hostile-full';
    mkdirSync(mount, { recursive: true });
    unmount(mount); // left mounted by an interrupted run
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', mount]);
    const copy = mkdtempSync(join(tmpdir(), 'hostile-faults-'));
    let s: Server | undefined;
    try {
      s = await serve(['--seed', '100'], mount);
      const server = s;
      return await run('disk-full SQLite', server, async () => '2 MiB tmpfs as --data-dir; 1 KiB PUTs until it is full', async () => {
        // Read the store from a copy: opening it in place on a full disk may itself need to write.
        cpSync(mount, copy, { recursive: true });
        return storeReader({ databaseUrl: '', dataDir: copy });
      }, 0, 100, 1024);
    } finally {
      await s?.kill();
      // SIGKILLed workers let go of their files a moment after the primary is reaped.
      for (let i = 0; i < 50 && unmount(mount); i++) await sleep(100);
      rmSync(copy, { recursive: true, force: true });
    }
  },
  async 'hostile corpus'() {
    const dir = mkdtempSync(join(tmpdir(), 'hostile-faults-'));
    const s = await serve(['--headers-timeout', '1s', '--request-timeout', '2s'], dir);
    try {
      return await run('hostile corpus', s, async (t) => {
        await sleep(500);
        const port = Number(new URL(s.url).port);
        let wrong = 0;
        for (const c of CORPUS) {
          const ok = judgeRaw(c, await sendRaw(port, c)) === undefined;
          if (!ok) wrong++;
          t.count(ok);
        }
        return `${CORPUS.length} malformed requests (test/hostile/corpus.ts) sent during the load; ${wrong} answered wrong`;
      }, () => storeReader({ databaseUrl: '', dataDir: dir }));
    } finally {
      await s.kill();
      rmSync(dir, { recursive: true, force: true });
    }
  },
};

/** Unmounts `dir` if something is mounted there; true while it stays mounted (busy). */
function unmount(dir: string): boolean {
  if (!readFileSync('/proc/mounts', 'utf8').split('\n').some((l) => l.split(' ')[1] === dir)) return false;
  try {
    execFileSync('umount', [dir], { stdio: 'ignore' });
    return false;
  } catch {
    return true;
  }
}

const rows: Row[] = [];
const t0 = performance.now();
for (const [name, row] of Object.entries(ROWS)) {
  if (ONLY && !ONLY.includes(name)) continue;
  process.stderr.write(`bench:faults: ${name}…\n`);
  try {
    rows.push(await row());
  } catch (err) {
    rows.push({ row: name, requests: 0, failed: 0, 'acked writes': 0, 'lost writes': 0, 'stale reads after': 0, crashed: 0, note: `did not run: ${(err as Error).message.split('\n')[0]}` });
  }
}
const cpu = cpus()[0]?.model ?? 'unknown CPU';
process.stdout.write(`bench:faults, ${new Date().toISOString().slice(0, 10)}, ${cpus().length} × ${cpu}, ${SECONDS} s of traffic per row (4 writer + 4 reader loops), ${((performance.now() - t0) / 1000).toFixed(0)} s in all\n\n`);
process.stdout.write(`${table(rows.map((r) => ({ ...r })))}\n`);
const bad = rows.filter((r) => r['lost writes'] > 0 || r.crashed > 0 || r.note.startsWith('did not run'));
process.stdout.write(bad.length === 0 ? '\nevery row: 0 acknowledged writes lost, 0 unplanned crashes\n' : `\nFAILED: ${bad.map((r) => r.row).join(', ')}\n`);
process.exitCode = bad.length === 0 ? 0 : 1;
