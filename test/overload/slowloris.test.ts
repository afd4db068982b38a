// Slow clients: 500 slowloris connections (one header byte a second) are dropped at the header timeout while
// normal clients keep being answered; an oversized header is refused.
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { demoBody } from '../../src/content/demo.ts';
import { get, startServe, type Server } from '../lifecycle/helpers.ts';

const SLOW = 500;
const HEADERS_TIMEOUT_MS = 2000;

describe('overload: slow clients', () => {
  let s: Server;
  before(async () => {
    s = await startServe(['--workers', '1', '--seed', '1000', '--headers-timeout', `${HEADERS_TIMEOUT_MS}ms`, '--max-header-size', '8KiB']);
  });
  after(async () => {
    await s?.kill();
  });

  it('drops 500 slowloris connections at the header timeout while normal clients are answered', { timeout: 30_000 }, async (t) => {
    const { hostname, port } = new URL(s.url);
    const line = 'GET /data?user_id=1 HTTP/1.1\r\nHost: localhost\r\nX-Slow: ';
    const lifetimes: number[] = [];
    const sockets: Socket[] = [];
    const timers: NodeJS.Timeout[] = [];
    after(() => {
      for (const tm of timers) clearInterval(tm);
      for (const so of sockets) so.destroy();
    });
    const closed = Array.from({ length: SLOW }, () => new Promise<void>((resolve) => {
      const t0 = performance.now();
      const so = connect(Number(port), hostname);
      sockets.push(so);
      let i = 0;
      so.on('connect', () => {
        const tm = setInterval(() => { if (!so.destroyed) so.write(line[i++ % line.length] ?? 'x'); }, 1000);
        timers.push(tm);
        so.write(line[i++] ?? 'x');
      });
      so.on('data', () => undefined); // the server's 408, if any
      so.on('error', () => undefined);
      so.once('close', () => {
        lifetimes.push(performance.now() - t0);
        resolve();
      });
    }));

    // Meanwhile a normal client, new connection every time, and one on keep-alive.
    const normal: number[] = [];
    let running = true;
    const client = (async () => {
      while (running) {
        const r = await get(`${s.url}/data?user_id=${(normal.length % 1000) + 1}`);
        assert.equal(r.status, 200);
        assert.equal(r.body, demoBody((normal.length % 1000) + 1));
        normal.push(r.ms);
        await new Promise((res) => setTimeout(res, 50));
      }
    })();
    const allClosed = Promise.all(closed);
    const finished = await Promise.race([allClosed.then(() => true), new Promise<boolean>((res) => setTimeout(() => res(false), HEADERS_TIMEOUT_MS + 6000))]);
    running = false;
    await client;
    t.diagnostic(`slow connections closed: ${lifetimes.length}/${SLOW}, after ${Math.min(...lifetimes).toFixed(0)}..${Math.max(...lifetimes).toFixed(0)} ms; normal requests: ${normal.length}, slowest ${Math.max(...normal).toFixed(0)} ms`);
    assert.ok(finished, `only ${lifetimes.length} of ${SLOW} slow connections were dropped`);
    assert.ok(Math.max(...lifetimes) < HEADERS_TIMEOUT_MS + 3000, 'dropped at the timeout, not much later');
    assert.ok(Math.min(...lifetimes) >= HEADERS_TIMEOUT_MS - 200, 'not dropped before the timeout');
    assert.ok(normal.length >= 20, `${normal.length} normal requests`);
    assert.ok(Math.max(...normal) < 1000, `normal clients waited up to ${Math.max(...normal)} ms`);
  });

  it('refuses a request whose headers exceed --max-header-size with 431', async () => {
    const r = await fetch(`${s.url}/data?user_id=1`, { headers: { 'x-big': 'a'.repeat(9000) } });
    assert.equal(r.status, 431);
  });
});
