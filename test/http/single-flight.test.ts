// Stampede protection: however many concurrent requests arrive for one cold key, exactly one store read
// happens. Counted through the server's own store-read counter on /metrics.
import assert from 'node:assert/strict';
import { Agent, request } from 'node:http';
import { describe, it } from 'node:test';
import { demoBody } from '../../src/content/demo.ts';
import { BACKENDS, startTestApp, type Backend } from '../support/app.ts';
import { metric } from '../support/serve.ts';

function get(url: string, agent: Agent): Promise<{ status: number; body: string; cache: string }> {
  return new Promise((resolve, reject) => {
    request(url, { agent }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, cache: String(res.headers['x-cache']) }));
    })
      .on('error', reject)
      .end();
  });
}

for (const backend of Object.keys(BACKENDS) as Backend[]) {
  describe(`single-flight (${backend})`, () => {
    it('1,000 concurrent requests for one cold key make exactly one store read', async () => {
      // Redis off for this one: with Redis the first read may be answered by L2; the store count is what matters.
      await using app = await startTestApp({ backend, env: { REDIS_URL: '' } });
      const agent = new Agent({ keepAlive: true, maxSockets: 1000 });
      try {
        const before = await metric(app.url, 'floodgate_store_queries_total', { op: 'get' });
        // User 7 is one of the oldest of the 1,000 seeded: the warm-up reads only the newest 256.
        const results = await Promise.all(Array.from({ length: 1000 }, () => get(`${app.url}/data?user_id=7`, agent)));
        const after = await metric(app.url, 'floodgate_store_queries_total', { op: 'get' });
        assert.equal(after - before, 1, 'store reads for 1,000 concurrent requests');
        assert.ok(results.every((r) => r.status === 200 && r.body === demoBody(7)));
        const outcomes = new Set(results.map((r) => r.cache));
        assert.ok(outcomes.has('miss'), 'one request loaded the key');
        assert.ok(outcomes.has('coalesced') || outcomes.has('hit'), 'the others waited on it or hit the fresh entry');
        assert.equal(results.filter((r) => r.cache === 'miss').length, 1, 'exactly one miss');
      } finally {
        agent.destroy();
      }
    });
  });
}
