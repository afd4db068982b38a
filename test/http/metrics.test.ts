// The hot path counts into plain numbers; /metrics must still show exact Prometheus counters and a
// cumulative histogram, the same on every scrape, with bounded method and collection labels.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { createMetrics } from '../../src/http/metrics.ts';

const lines = (text: string, prefix: string): string[] => text.split('\n').filter((l) => l.startsWith(prefix));

it('requests, durations and lookups reach the Prometheus text exactly', async () => {
  const m = createMetrics({ logError: () => undefined });
  m.request('data', 'GET', 'default', 200, 0.0003);
  m.request('data', 'GET', 'default', 200, 0.002);
  m.request('data', 'GET', 'default', 404, 5);
  m.memory('hit');
  m.memory('hit');
  m.memory('coalesced');
  m.redis('error');
  m.store('get', 0.001, false);
  for (let scrape = 0; scrape < 2; scrape++) {
    const text = await m.registry.metrics();
    const has = (line: string) => assert.ok(text.split('\n').includes(line), `missing: ${line}`);
    has('floodgate_http_requests_total{route="data",method="GET",collection="default",status="200"} 2');
    has('floodgate_http_requests_total{route="data",method="GET",collection="default",status="404"} 1');
    has('floodgate_http_request_duration_seconds_bucket{le="0.00025",route="data",method="GET",collection="default"} 0');
    has('floodgate_http_request_duration_seconds_bucket{le="0.0005",route="data",method="GET",collection="default"} 1');
    has('floodgate_http_request_duration_seconds_bucket{le="0.0025",route="data",method="GET",collection="default"} 2');
    has('floodgate_http_request_duration_seconds_bucket{le="2",route="data",method="GET",collection="default"} 2');
    has('floodgate_http_request_duration_seconds_bucket{le="+Inf",route="data",method="GET",collection="default"} 3');
    has('floodgate_http_request_duration_seconds_count{route="data",method="GET",collection="default"} 3');
    has('floodgate_cache_lookups_total{tier="memory",outcome="hit"} 2');
    has('floodgate_cache_lookups_total{tier="memory",outcome="coalesced"} 1');
    has('floodgate_cache_lookups_total{tier="redis",outcome="error"} 1');
    has('floodgate_store_queries_total{op="get",result="error"} 1');
    assert.ok(!/route="content"/.test(lines(text, 'floodgate_http_request_duration_seconds_bucket').join('\n')), 'unused routes stay out of the histogram');
  }
});

it('only configured collections and known methods get a label value of their own; routes without a collection have no collection label', async () => {
  const m = createMetrics({ logError: () => undefined, collections: ['promo', 'offers'] });
  m.request('content', 'GET', 'promo', 200, 0.001);
  m.request('content', 'HEAD', 'promo', 304, 0.001);
  m.request('write', 'PUT', 'offers', 201, 0.01);
  m.request('data', 'GET', 'default', 200, 0.001);
  // Names a caller typed: each a collection nobody configured. They must not grow the series.
  for (let i = 0; i < 1000; i++) m.request('content', 'GET', `typed-${i}`, 404, 0.001);
  m.request('write', 'PUT', 'typed-x', 201, 0.01);
  m.request('content', 'PROPFIND', 'promo', 405, 0.001);
  m.request('content', undefined, 'promo', 405, 0.001);
  m.request('healthz', 'GET', undefined, 200, 0.0001);
  const text = await m.registry.metrics();
  assert.deepEqual(lines(text, 'floodgate_http_requests_total{').sort(), [
    'floodgate_http_requests_total{route="content",method="GET",collection="_other",status="404"} 1000',
    'floodgate_http_requests_total{route="content",method="GET",collection="promo",status="200"} 1',
    'floodgate_http_requests_total{route="content",method="HEAD",collection="promo",status="304"} 1',
    'floodgate_http_requests_total{route="content",method="_other",collection="promo",status="405"} 2',
    'floodgate_http_requests_total{route="data",method="GET",collection="default",status="200"} 1',
    'floodgate_http_requests_total{route="healthz",method="GET",status="200"} 1',
    'floodgate_http_requests_total{route="write",method="PUT",collection="_other",status="201"} 1',
    'floodgate_http_requests_total{route="write",method="PUT",collection="offers",status="201"} 1',
  ]);
  assert.deepEqual(lines(text, 'floodgate_http_request_duration_seconds_count{').sort(), [
    'floodgate_http_request_duration_seconds_count{route="content",method="GET",collection="_other"} 1000',
    'floodgate_http_request_duration_seconds_count{route="content",method="GET",collection="promo"} 1',
    'floodgate_http_request_duration_seconds_count{route="content",method="HEAD",collection="promo"} 1',
    'floodgate_http_request_duration_seconds_count{route="content",method="_other",collection="promo"} 2',
    'floodgate_http_request_duration_seconds_count{route="data",method="GET",collection="default"} 1',
    'floodgate_http_request_duration_seconds_count{route="healthz",method="GET"} 1',
    'floodgate_http_request_duration_seconds_count{route="write",method="PUT",collection="_other"} 1',
    'floodgate_http_request_duration_seconds_count{route="write",method="PUT",collection="offers"} 1',
  ]);
});

it('status codes beyond the slots share one label value; reset forgets everything', async () => {
  const m = createMetrics({ logError: () => undefined });
  m.request('other', 'GET', undefined, 200, 0.001);
  for (let status = 100; status < 600; status++) m.request('other', 'GET', undefined, status, 0.001);
  let text = await m.registry.metrics();
  const series = lines(text, 'floodgate_http_requests_total{');
  assert.equal(series.length, 64, 'at most 64 status values');
  assert.ok(series.includes('floodgate_http_requests_total{route="other",method="GET",status="200"} 2'));
  assert.ok(series.includes(`floodgate_http_requests_total{route="other",method="GET",status="_other"} ${500 - 63}`));
  m.reset();
  text = await m.registry.metrics();
  assert.deepEqual(lines(text, 'floodgate_http_requests_total{'), []);
  assert.deepEqual(lines(text, 'floodgate_http_request_duration_seconds_count{'), []);
});
