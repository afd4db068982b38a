// npm run bench:scaleout: req/s through Debian's nginx (least_conn, keep-alive upstreams) with one floodgate
// instance behind it and with two, each instance one worker on PostgreSQL + a private Redis, measured side by
// side in one run (rounds alternate: 1 2 1 2). On a machine of few cores the instances, nginx and the load
// generator share them, so the ratio says what a second instance buys here, not what it buys on its own host.
import { pgArgs, pgSchema } from '../test/integration/helpers.ts';
import { startNginx } from '../test/support/nginx.ts';
import { startRedisServer } from '../test/support/redis-server.ts';
import { serve } from '../test/support/serve.ts';
import { drive, table, type LoadResult } from './load.ts';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 8);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 64);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2);
const USERS = 10_000;

await using redis = await startRedisServer();
await using schema = pgSchema();
const args = [...pgArgs(schema.name), '--redis-url', redis.url, '--seed', String(USERS), '--workers', '1', '--log-level', 'error'];
await using a = await serve({ args, readyTimeoutMs: 60_000 });
await using b = await serve({ args, readyTimeoutMs: 60_000 });
await using one = await startNginx([`127.0.0.1:${a.port}`]);
await using two = await startNginx([`127.0.0.1:${a.port}`, `127.0.0.1:${b.port}`]);

const path = '/data?user_id=';
// Warm both instances' memory tiers through the two-instance balancer (least_conn spreads the ids over both).
for (let r = 0; r < 2; r++) await drive({ url: two.url, path, maxId: USERS, seconds: 3, connections: CONNECTIONS, sequential: true, start: r * USERS });

const runs: { behind: string; r: LoadResult }[] = [];
for (let round = 0; round < ROUNDS; round++) {
  for (const [behind, lb] of [['1 instance', one], ['2 instances', two]] as const) {
    runs.push({ behind, r: await drive({ url: lb.url, path, maxId: USERS, seconds: SECONDS, connections: CONNECTIONS }) });
  }
}
const rows = runs.map(({ behind, r }) => ({ behind, tool: r.tool, 'req/s': Math.round(r.rps), 'p50 ms': r.p50ms, 'p99 ms': r.p99ms, errors: r.errors }));
process.stdout.write(`${table(rows)}\n`);
const mean = (behind: string): number => {
  const xs = runs.filter((x) => x.behind === behind).map((x) => x.r.rps);
  return xs.reduce((s, x) => s + x, 0) / xs.length;
};
process.stdout.write(`\nthrough nginx: 1 instance ${Math.round(mean('1 instance'))} req/s, 2 instances ${Math.round(mean('2 instances'))} req/s (x${(mean('2 instances') / mean('1 instance')).toFixed(2)}) on ${(await import('node:os')).availableParallelism()} cores shared by nginx, the instances and the load generator\n`);
