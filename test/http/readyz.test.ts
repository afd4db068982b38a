// /readyz says which dependency fails to anyone, and why (host:port, driver errors) only to the admin token:
// PostgreSQL behind a cut TCP proxy and a Redis URL nobody listens on, both real.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { freePort } from '../../src/common/processes.ts';
import { PG_URL, startTestApp, type TestApp } from '../support/app.ts';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.ts';

const ADMIN = 'ready-admin';
const READER = 'ready-reader';

describe('/readyz details', () => {
  let proxy: TcpProxy;
  let app: TestApp;
  let redisPort: number;
  before(async () => {
    const pg = new URL(PG_URL);
    proxy = await startTcpProxy({ host: pg.hostname, port: Number(pg.port || 5432) });
    pg.port = String(proxy.port);
    redisPort = await freePort('127.0.0.1');
    app = await startTestApp({
      env: { DATABASE_URL: pg.toString(), REDIS_URL: `redis://127.0.0.1:${redisPort}`, FLOODGATE_ADMIN_TOKEN: ADMIN, FLOODGATE_READ_TOKEN: READER, FLOODGATE_SEED: '0' },
      args: ['--store-timeout', '300ms', '--warmup', '0'],
    });
    proxy.cut();
  });
  after(async () => {
    proxy.restore();
    await app.close();
    await proxy.close();
  });

  const ready = async (token?: string): Promise<{ status: number; text: string; checks: Record<string, string> }> => {
    const r = await fetch(`${app.url}/readyz`, { headers: token ? { authorization: `Bearer ${token}` } : {} });
    const text = await r.text();
    return { status: r.status, text, checks: (JSON.parse(text) as { checks: Record<string, string> }).checks };
  };

  it('without the admin token: which dependency fails, not its host, port or driver error', async () => {
    for (const token of [undefined, READER, 'wrong']) {
      const r = await ready(token);
      assert.equal(r.status, 503, r.text);
      assert.deepEqual(r.checks, { store: 'failing', redis: 'failing' }, `${token ?? 'no credential'}: ${r.text}`);
      for (const leak of [String(proxy.port), String(redisPort), '127.0.0.1', 'ECONNREFUSED', 'PostgreSQL']) {
        assert.ok(!r.text.includes(leak), `${token ?? 'no credential'}: ${leak} shown in ${r.text}`);
      }
    }
  });

  it('with the admin token: the reason too', async () => {
    const r = await ready(ADMIN);
    assert.equal(r.status, 503, r.text);
    assert.match(r.checks.store ?? '', /^failing: ./, r.text);
    assert.match(r.checks.redis ?? '', /^failing: ./, r.text);
  });
});
