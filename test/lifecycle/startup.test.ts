// What `floodgate serve` says when it cannot start, and `serve --check`: one clear line, printed once (not once
// per worker), exit 2 for a configuration mistake and 1 for a runtime failure; --check connects without serving.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { startServe, type Server } from './helpers.ts';

const BIN = fileURLToPath(new URL('../../bin/floodgate.js', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'fg-startup-'));
const servers: Server[] = [];
after(async () => {
  await Promise.all(servers.map((s) => s.kill()));
  rmSync(dir, { recursive: true, force: true });
});

function serve(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!/^(FLOODGATE_|DATABASE_URL$|REDIS_URL$|PORT$)/.test(k)) env[k] = v;
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, 'serve', '--host', '127.0.0.1', '--seed', '0', '--data-dir', join(dir, 'data'), '--log-level', 'warn', ...args], { env, timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : Number((err as { code?: unknown }).code ?? 1), stdout, stderr });
    });
  });
}

function file(name: string, content: unknown): string {
  const path = join(dir, name);
  writeFileSync(path, typeof content === 'string' ? content : JSON.stringify(content));
  return path;
}

/** The lines a failed start wrote, with pino's JSON lines (debug level and up are off at warn) left out. */
const lines = (text: string): string[] => text.split('\n').filter((l) => l.trim() !== '');

describe('start-up errors', () => {
  it('--database-url mysql://x: one line naming the problem, exit 2, no stack trace', async () => {
    const r = await serve(['--database-url', 'mysql://x', '--workers', '2', '--port', '0']);
    assert.equal(r.code, 2, r.stderr);
    assert.deepEqual(lines(r.stderr), ["floodgate serve: --database-url: floodgate stores content in PostgreSQL (postgres://…) or, when empty, in embedded SQLite; 'mysql:' URLs are not supported"]);
  });

  it('a bad collections file: one line, once, not once per worker, exit 2', async () => {
    const bad = file('bad.json', { collections: { c: { ttl: '60s', colour: 'red' } } });
    const r = await serve(['--collections', bad, '--workers', '3', '--port', '0']);
    assert.equal(r.code, 2, r.stderr);
    const out = lines(r.stderr + r.stdout);
    assert.equal(out.length, 1, out.join('\n'));
    assert.match(out[0] ?? '', /^floodgate serve: .*bad\.json\.collections\.c: unknown key "colour"/);
  });

  it('a port in use: one line, once, exit 1, before anything is created or seeded', async () => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const port = (taken.address() as { port: number }).port;
    const untouched = join(dir, 'never-created');
    try {
      const r = await serve(['--port', String(port), '--workers', '3', '--data-dir', untouched, '--seed', '500']);
      assert.equal(r.code, 1, r.stderr);
      assert.deepEqual(lines(r.stderr + r.stdout), [`floodgate serve: port ${port} is in use on 127.0.0.1; choose another with --port or PORT`]);
      assert.equal(existsSync(untouched), false, 'a server that cannot listen must not create and seed a data directory');
    } finally {
      taken.close();
    }
  });

  const somaxconn = Number(existsSync('/proc/sys/net/core/somaxconn') ? readFileSync('/proc/sys/net/core/somaxconn', 'utf8').trim() : NaN);
  it('the somaxconn advisory is logged once per host, not at every start', { skip: !(somaxconn < 65_535) ? 'the kernel does not cap --backlog here' : false }, async () => {
    // The marker lives in the system's temp directory: this test gives each "host" one of its own.
    const host = mkdtempSync(join(dir, 'host-'));
    const advisory = /caps the listen backlog at \d+ \(net\.core\.somaxconn\).*said once per host/;
    // The log lines (pino, buffered) may reach the pipe after the "serving" line (a direct write): each server is
    // stopped with SIGTERM and its whole output read once it has exited, which flushes the log ("stopped" last).
    const run = async (tmp: string): Promise<string> => {
      const s = await startServe(['--workers', '1', '--log-level', 'info'], { TMPDIR: tmp });
      servers.push(s);
      s.child.kill('SIGTERM');
      await s.exited;
      const out = s.output();
      assert.match(out, /"msg":"stopped"/, out);
      return out;
    };
    assert.match(await run(host), advisory);
    const second = await run(host);
    assert.match(second, /floodgate is serving on/);
    assert.doesNotMatch(second, /somaxconn/);
    // Another host (another temp directory) is told again.
    assert.match(await run(mkdtempSync(join(dir, 'host-'))), advisory);
  });

  it('the start hint reads user 42 only when that user exists', async () => {
    const empty = await startServe(['--workers', '1']);
    servers.push(empty);
    assert.doesNotMatch(empty.output(), /try: curl/);
    const seeded = await startServe(['--workers', '1', '--seed', '50']);
    servers.push(seeded);
    assert.match(seeded.output(), /try: curl '.*\/data\?user_id=42'/);
  });
});

describe('serve --check', () => {
  it('passes a good configuration without serving (exit 0)', async () => {
    const good = file('good.json', { collections: { weather: { ttl: '60s' } } });
    const r = await serve(['--check', '--collections', good, '--port', '0']);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /^ok {6}collections: 1 in .*good\.json$/m);
    assert.match(r.stdout, /^ok {6}store: SQLite in /m);
    assert.match(r.stdout, /ready to serve/);
  });

  it('a bad collections file exits 2; an unreachable Redis or PostgreSQL exits 1', async () => {
    const bad = file('bad2.json', { collections: { c: { ttl: 60 } } });
    const col = await serve(['--check', '--collections', bad, '--port', '0']);
    assert.equal(col.code, 2, col.stdout);
    assert.match(col.stdout, /^FAILED {2}collections: .*ttl: a bare number has no unit/m);
    const redis = await serve(['--check', '--redis-url', 'redis://127.0.0.1:1', '--port', '0']);
    assert.equal(redis.code, 1, redis.stdout);
    assert.match(redis.stdout, /^FAILED {2}redis: Redis at redis:\/\/127\.0\.0\.1:1 does not answer/m);
    const pg = await serve(['--check', '--database-url', 'postgres://postgres@127.0.0.1:1/test', '--port', '0']);
    assert.equal(pg.code, 1, pg.stdout);
    assert.match(pg.stdout, /^FAILED {2}store: /m);
    assert.match(pg.stdout, /not ready \(exit 1\)/);
  });
});
