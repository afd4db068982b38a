// The state-change log lines: overload start/end (with what was shed, by reason), dependency lost/regained,
// rate-limited. First on an injected clock with a real counter and a real pino logger, then on real servers:
// reads shed by a one-slot PostgreSQL server, and a private Redis that is down at start, then up, then killed.
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import client from 'prom-client';
import { startApp } from '../../src/app.ts';
import { loadConfig } from '../../src/config.ts';
import { StateLog } from '../../src/http/events.ts';
import { PG_URL } from '../support/app.ts';
import { startRedisServer } from '../support/redis-server.ts';
import { freePort } from '../../src/common/processes.ts';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

function capture() {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({ write(chunk: Buffer, _enc, done) { for (const l of chunk.toString().split('\n')) if (l) lines.push(JSON.parse(l) as Record<string, unknown>); done(); } });
  return { lines, logger: pino({ level: 'info' }, stream), events: (e: string) => lines.filter((l) => l['event'] === e) };
}

describe('state-change log lines on an injected clock', () => {
  it('one line when overload starts, one when it ends, with what was shed by reason in between', async () => {
    const { logger, events } = capture();
    const registry = new client.Registry();
    const degraded = new client.Counter({ name: 'floodgate_degraded_total', help: 'x', labelNames: ['answer', 'reason'], registers: [registry] });
    let now = 0;
    const log = new StateLog({ logger, registry, dependencies: {}, quietMs: 5000, ongoingMs: 60_000, now: () => now });
    await log.tick();
    assert.equal(events('overload-start').length, 0, 'nothing shed, nothing said');
    for (let s = 1; s <= 10; s++) {
      now = s * 1000;
      degraded.labels('refused', 'queue-full').inc(100);
      if (s % 2 === 0) degraded.labels('stale', 'deadline').inc(3);
      await log.tick();
    }
    assert.equal(events('overload-start').length, 1, 'said once, however long it lasts');
    assert.deepEqual(events('overload-start')[0]?.['shed'], { 'queue-full': 100 });
    for (let s = 11; s <= 14; s++) {
      now = s * 1000;
      await log.tick();
    }
    assert.equal(events('overload-end').length, 0, 'not over before the quiet period');
    now = 15_000;
    await log.tick();
    const end = events('overload-end');
    assert.equal(end.length, 1);
    assert.deepEqual(end[0]?.['shed'], { 'queue-full': 1000, deadline: 15 });
    assert.equal(end[0]?.['forMs'], 9000);
    now = 16_000;
    await log.tick();
    assert.equal(events('overload-end').length, 1);
  });

  it('a long overload says it continues at most once a minute', async () => {
    const { logger, events } = capture();
    const registry = new client.Registry();
    const degraded = new client.Counter({ name: 'floodgate_degraded_total', help: 'x', labelNames: ['answer', 'reason'], registers: [registry] });
    let now = 0;
    const log = new StateLog({ logger, registry, dependencies: {}, now: () => now });
    for (let s = 0; s <= 150; s++) {
      now = s * 1000;
      degraded.labels('refused', 'event-loop').inc();
      await log.tick();
    }
    assert.equal(events('overload-start').length, 1);
    assert.equal(events('overload-ongoing').length, 2);
  });

  it('a dependency lost and regained: one line each, none for a first check that finds it up, flaps held back', async () => {
    const { logger, events } = capture();
    let now = 0;
    let up = true;
    const log = new StateLog({ logger, registry: new client.Registry(), dependencies: { redis: async () => { if (!up) throw new Error('connection refused'); } }, minGapMs: 5000, now: () => now });
    await log.tick();
    assert.equal(events('dependency-lost').length + events('dependency-regained').length, 0);
    up = false;
    now = 1000;
    await log.tick();
    assert.equal(events('dependency-lost').length, 1);
    assert.equal(events('dependency-lost')[0]?.['error'], 'connection refused');
    assert.equal(log.isUp('redis'), false);
    // flapping inside the gap: nothing more is said until the gap has passed
    for (let s = 2; s <= 5; s++) {
      now = s * 1000;
      up = s % 2 === 0;
      await log.tick();
    }
    assert.equal(events('dependency-regained').length, 0);
    now = 6000;
    up = true;
    await log.tick();
    assert.equal(events('dependency-regained').length, 1);
    assert.equal(events('dependency-regained')[0]?.['flaps'], 4);
  });
});

describe('state-change log lines on real servers', () => {
  it('starting with Redis unreachable says so; regained and lost again, each once', async () => {
    const redis = await startRedisServer();
    await redis.stop();
    const dir = mkdtempSync(join(tmpdir(), 'fg-events-'));
    const { logger, events } = capture();
    const { config } = loadConfig(['--port', '0', '--host', '127.0.0.1', '--data-dir', dir, '--seed', '10', '--warmup', '0', '--redis-url', redis.url], {});
    const app = await startApp(config, { logger, events: { tickMs: 100, minGapMs: 0 } });
    try {
      const until = async (what: () => boolean): Promise<void> => {
        for (let i = 0; i < 200 && !what(); i++) await new Promise((r) => setTimeout(r, 50));
        assert.ok(what());
      };
      await until(() => events('dependency-lost').some((l) => l['dependency'] === 'redis'));
      await redis.restart();
      await until(() => events('dependency-regained').some((l) => l['dependency'] === 'redis'));
      await redis.stop();
      await until(() => events('dependency-lost').length === 2);
      assert.equal(events('dependency-lost').filter((l) => l['dependency'] === 'store').length, 0);
      const metrics = await app.registry.metrics();
      assert.match(metrics, /floodgate_dependency_up\{dependency="redis"\} 0/);
      assert.match(metrics, /floodgate_dependency_up\{dependency="store"\} 1/);
    } finally {
      await app.close();
      await redis[Symbol.asyncDispose]();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('reads shed at a one-slot PostgreSQL server: overload-start, then overload-end with the queue-full count', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fg-events-'));
    const { logger, events } = capture();
    const schema = `fg_ev_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
    const { config } = loadConfig(['--port', String(await freePort()), '--host', '127.0.0.1', '--data-dir', dir, '--seed', '500', '--warmup', '0', '--database-url', PG_URL, '--db-schema', schema, '--db-pool', '1', '--max-in-flight', '1', '--max-queue', '0', '--cache-bytes', '0', '--max-event-loop-delay', '0'], {});
    const app = await startApp(config, { logger, events: { tickMs: 100, quietMs: 500 } });
    try {
      const answers = await Promise.all(Array.from({ length: 200 }, (_, i) => fetch(`${app.url}/data?user_id=${i + 1}`).then((r) => r.headers.get('x-degraded-reason') ?? String(r.status))));
      const shed = answers.filter((a) => a === 'queue-full').length;
      assert.ok(shed > 0, answers.join(' '));
      for (let i = 0; i < 100 && events('overload-end').length === 0; i++) await new Promise((r) => setTimeout(r, 50));
      assert.equal(events('overload-start').length, 1);
      const end = events('overload-end');
      assert.equal(end.length, 1);
      assert.deepEqual(end[0]?.['shed'], { 'queue-full': shed });
    } finally {
      await app.close();
      const postgres = (await import('postgres')).default;
      const sql = postgres(PG_URL, { max: 1, onnotice: () => undefined });
      await sql.unsafe(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      await sql.end();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('--log-requests', () => {
  it('each line carries the cache outcome, client address, bytes and a request id', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fg-events-'));
    const { logger, lines } = capture();
    const { config } = loadConfig(['--port', '0', '--host', '127.0.0.1', '--data-dir', dir, '--seed', '10', '--warmup', '0', '--log-requests'], {});
    const app = await startApp(config, { logger });
    try {
      const first = await fetch(`${app.url}/data?user_id=7`, { headers: { 'x-request-id': 'abc-123' } });
      const body = await first.arrayBuffer();
      await (await fetch(`${app.url}/data?user_id=7`)).arrayBuffer();
      const requests = lines.filter((l) => l['msg'] === 'request');
      assert.equal(requests.length, 2);
      assert.deepEqual(requests.map((r) => [r['cache'], r['bytes'], r['client'], r['status']]), [['miss', body.byteLength, '127.0.0.1', 200], ['hit', body.byteLength, '127.0.0.1', 200]]);
      assert.equal(requests[0]?.['reqId'], 'abc-123');
      assert.match(String(requests[1]?.['reqId']), /^\d+-\d+$/);
    } finally {
      await app.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
