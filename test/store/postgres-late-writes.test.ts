// A write whose caller was answered with an error must never take effect later. A private PostgreSQL is
// killed; writes fail until one misses its deadline while postgres.js still holds it for a connection that is
// backing off (refused connections lengthen the backoff); the server starts again, a later write of the same key
// is acknowledged through another pool (another worker), and the store must keep that later write once the first
// pool has reconnected and run whatever it was still holding. Never the shared server: this one is killed.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { StoreTimeoutError, StoreUnavailableError } from '../../src/store/errors.ts';
import { openPostgresStore } from '../../src/store/postgres.ts';
import { startPrivatePostgres } from '../../bench/private-postgres.ts';
import { startTcpProxy } from '../support/tcp-proxy.ts';
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

function viaProxy(port: number): string {
  const url = new URL(PG_URL);
  url.hostname = '127.0.0.1';
  url.port = String(port);
  return url.toString();
}

const DEADLINE_MS = 400;
/** Attempts at most while the server is down; each fails fast (refused) or at its deadline. */
const MAX_ATTEMPTS = 40;

describe('PostgreSQL writes answered with an error', () => {
  it('a put that missed its deadline while PostgreSQL was down never lands after a later acknowledged put', async () => {
    await using pg = await startPrivatePostgres();
    const cut = await openPostgresStore({ url: pg.url, poolSize: 1, queueTimeoutMs: DEADLINE_MS, schema });
    const direct = await openPostgresStore({ url: pg.url, poolSize: 1, queueTimeoutMs: 5000, schema });
    const write = (body: string): { collection: string; key: string; body: Buffer; contentType: string } => ({
      collection: 'late', key: 'k', body: Buffer.from(body), contentType: 'text/plain',
    });
    try {
      await cut.put(write('v0'));
      pg.kill();
      // Every failed connection attempt lengthens postgres.js's reconnect backoff; once it exceeds the deadline,
      // a put waits for a connection past its deadline and is answered with an error.
      let missed = 0;
      for (let i = 0; i < MAX_ATTEMPTS && missed === 0; i++) {
        const started = performance.now();
        try {
          await cut.put(write('v1'));
          assert.fail('a put cannot succeed while the server is down');
        } catch (err) {
          assert.ok(err instanceof StoreUnavailableError || err instanceof StoreTimeoutError, String(err));
          if (performance.now() - started >= DEADLINE_MS) missed++;
        }
      }
      assert.equal(missed, 1, `a put missed its deadline within ${MAX_ATTEMPTS} attempts`);
      // pg_ctl refuses while the killed postmaster's processes are still going away: try again a few times.
      for (let i = 0; ; i++) {
        try {
          pg.start();
          break;
        } catch (err) {
          if (i >= 20) throw err;
          await new Promise((r) => setTimeout(r, 250));
        }
      }

      let acknowledged: { version: number } | undefined;
      const up = await eventually(async () => {
        acknowledged = await direct.put(write('v2')).catch(() => undefined);
        return acknowledged !== undefined;
      }, 30_000);
      assert.ok(up && acknowledged, 'a put succeeds once the server is back');
      // The cut pool reconnects (after its backoff) and runs what it held first, then this read: once the read
      // answers, nothing from before is left to run.
      const reconnected = await eventually(async () => {
        try {
          await cut.get('late', 'k');
          return true;
        } catch {
          return false;
        }
      }, 30_000);
      assert.ok(reconnected, 'the cut pool reconnects');
      await new Promise((r) => setTimeout(r, DEADLINE_MS * 2));
      const held = await direct.get('late', 'k');
      assert.equal(held?.body.toString(), 'v2', `the acknowledged put (version ${acknowledged.version}) is what the store holds; it holds version ${held?.version}`);
      assert.equal(held?.version, acknowledged.version);
    } finally {
      await cut.close();
      await direct.close();
    }
  });

  it('a put sent before its deadline but held on the way until after it never lands after a later acknowledged put', async () => {
    const target = new URL(PG_URL);
    await using proxy = await startTcpProxy({ host: target.hostname, port: Number(target.port || 5432) });
    const held = await openPostgresStore({ url: viaProxy(proxy.port), poolSize: 1, queueTimeoutMs: DEADLINE_MS, schema, applicationName: uniqueName('fg_app') });
    const direct = await openPostgresStore({ url: PG_URL, poolSize: 1, queueTimeoutMs: 5000, schema, applicationName: uniqueName('fg_app') });
    const write = (body: string): { collection: string; key: string; body: Buffer; contentType: string } => ({
      collection: 'held', key: 'k', body: Buffer.from(body), contentType: 'text/plain',
    });
    try {
      await held.put(write('v0'));
      // The put goes out on the pool's open connection and stays in the proxy; its CancelRequest (a new
      // connection) is reset; the caller is answered with an error at the deadline.
      proxy.hold();
      await assert.rejects(held.put(write('v1')), (err: unknown) => err instanceof StoreTimeoutError || err instanceof StoreUnavailableError);
      const acknowledged = await direct.put(write('v2'));
      proxy.restore(); // v1's bytes reach PostgreSQL now, after v2 was acknowledged
      const drained = await eventually(async () => {
        try {
          await held.get('held', 'k');
          return true;
        } catch {
          return false;
        }
      }, 10_000);
      assert.ok(drained, 'the held connection delivered v1 and answers again');
      const stored = await direct.get('held', 'k');
      assert.equal(stored?.body.toString(), 'v2', `the acknowledged put (version ${acknowledged.version}) is what the store holds; it holds version ${stored?.version}`);
      assert.equal(stored?.version, acknowledged.version);
    } finally {
      await held.close();
      await direct.close();
    }
  });
});
