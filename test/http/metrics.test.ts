// The hot path counts into plain numbers; /metrics must still show exact Prometheus counters and a
// cumulative histogram, the same on every scrape.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { createMetrics } from '../../src/http/metrics.ts';

it('requests, durations and lookups reach the Prometheus text exactly', async () => {
  const m = createMetrics({ logError: () => undefined });
  m.request('data', 200, 0.0003);
  m.request('data', 200, 0.002);
  m.request('data', 404, 5);
  m.memory('hit');
  m.memory('hit');
  m.memory('coalesced');
  m.redis('error');
  m.store('get', 0.001, false);
  for (let scrape = 0; scrape < 2; scrape++) {
    const text = await m.registry.metrics();
    const has = (line: string) => assert.ok(text.split('\n').includes(line), `missing: ${line}`);
    has('floodgate_http_requests_total{route="data",status="200"} 2');
    has('floodgate_http_requests_total{route="data",status="404"} 1');
    has('floodgate_http_request_duration_seconds_bucket{le="0.00025",route="data"} 0');
    has('floodgate_http_request_duration_seconds_bucket{le="0.0005",route="data"} 1');
    has('floodgate_http_request_duration_seconds_bucket{le="0.0025",route="data"} 2');
    has('floodgate_http_request_duration_seconds_bucket{le="2",route="data"} 2');
    has('floodgate_http_request_duration_seconds_bucket{le="+Inf",route="data"} 3');
    has('floodgate_http_request_duration_seconds_count{route="data"} 3');
    has('floodgate_cache_lookups_total{tier="memory",outcome="hit"} 2');
    has('floodgate_cache_lookups_total{tier="memory",outcome="coalesced"} 1');
    has('floodgate_cache_lookups_total{tier="redis",outcome="error"} 1');
    has('floodgate_store_queries_total{op="get",result="error"} 1');
    assert.ok(!/route="content"/.test(text.split('\n').filter((l) => l.includes('duration_seconds_bucket')).join('\n')), 'unused routes stay out of the histogram');
  }
});
