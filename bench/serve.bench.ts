// npm run bench: floodgate serve's cached read path against a raw node:http server answering the same
// bodies from a Map, and, for reference, the same Map behind a minimal HTTP/1.1 responder on node:net
// (bench/raw-net-server.ts: what node:http itself costs a read). Each server in turn is pinned to core 0; wrk (or autocannon) is pinned to core 1;
// random user ids over the 100,000 demo users. Rounds alternate (A B A B) so drift hits both alike.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cpuSeconds, drive, freePort, spawnPinned, stop, table, waitForHttp, type LoadResult } from './load.ts';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 100);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2);
const USERS = 100_000;
const node = process.execPath;
const dataDir = mkdtempSync(join(tmpdir(), 'fg-bench-data-'));

type Measured = LoadResult & { cpuUsPerReq: number };

async function measure(name: string, start: () => ReturnType<typeof spawnPinned>, port: number): Promise<Measured> {
  const child = start();
  try {
    await waitForHttp(`http://127.0.0.1:${port}/healthz`);
    // Warm-up: ids in sequence until every one has been asked for (the memory tier holds them all), then
    // a short random run so both servers start the measurement equally warm.
    for (let asked = 0; asked < USERS; ) {
      asked += (await drive({ url: `http://127.0.0.1:${port}`, path: '/data?user_id=', maxId: USERS, seconds: 3, connections: CONNECTIONS, sequential: true, start: asked })).requests;
    }
    await drive({ url: `http://127.0.0.1:${port}`, path: '/data?user_id=', maxId: USERS, seconds: 2, connections: CONNECTIONS });
    const cpu0 = cpuSeconds(child.pid) ?? NaN;
    const r = await drive({ url: `http://127.0.0.1:${port}`, path: '/data?user_id=', maxId: USERS, seconds: SECONDS, connections: CONNECTIONS });
    // Server CPU per request: far steadier than req/s when other work shares the machine.
    const cpuUsPerReq = (((cpuSeconds(child.pid) ?? NaN) - cpu0) * 1e6) / r.requests;
    process.stderr.write(`  ${name}: ${Math.round(r.rps)} req/s, p50 ${r.p50ms.toFixed(2)} ms, p99 ${r.p99ms.toFixed(2)} ms, errors ${r.errors}, ${cpuUsPerReq.toFixed(1)} µs CPU/request\n`);
    return { ...r, cpuUsPerReq };
  } finally {
    await stop(child);
  }
}

const fgPort = await freePort();
const rawPort = await freePort();
const netPort = await freePort();
const startFloodgate = () =>
  spawnPinned(0, node, ['--disable-warning=ExperimentalWarning', 'bin/floodgate.js', 'serve', '--workers', '1', '--port', String(fgPort), '--host', '127.0.0.1', '--data-dir', dataDir, '--log-level', 'warn'], { ...process.env, FLOODGATE_ADMIN_TOKEN: '', DATABASE_URL: '', REDIS_URL: '' });
const startRaw = () => spawnPinned(0, node, ['--disable-warning=ExperimentalWarning', 'bench/raw-server.ts', String(rawPort), String(USERS)]);
const startNet = () => spawnPinned(0, node, ['--disable-warning=ExperimentalWarning', 'bench/raw-net-server.ts', String(netPort), String(USERS)]);

process.stderr.write(`bench: ${SECONDS}s per run, ${CONNECTIONS} connections, ${ROUNDS} rounds, random ids 1..${USERS}\n`);
const fg: Measured[] = [];
const raw: Measured[] = [];
const net: Measured[] = [];
try {
  for (let i = 0; i < ROUNDS; i++) {
    raw.push(await measure('raw node:http', startRaw, rawPort));
    fg.push(await measure('floodgate serve', startFloodgate, fgPort));
    net.push(await measure('minimal HTTP on node:net', startNet, netPort));
  }
} finally {
  rmSync(dataDir, { recursive: true, force: true });
}
const best = (rs: Measured[]): Measured => rs.reduce((a, b) => (b.rps > a.rps ? b : a));
const leastCpu = (rs: Measured[]): number => Math.min(...rs.map((m) => m.cpuUsPerReq));
const b = best(fg);
const r = best(raw);
const n = best(net);
process.stdout.write(
  `\n${table([
    { server: 'raw node:http + Map', 'req/s': Math.round(r.rps), 'p50 ms': r.p50ms, 'p99 ms': r.p99ms, errors: r.errors, 'CPU µs/req': leastCpu(raw) },
    { server: 'floodgate serve (memory tier)', 'req/s': Math.round(b.rps), 'p50 ms': b.p50ms, 'p99 ms': b.p99ms, errors: b.errors, 'CPU µs/req': leastCpu(fg) },
    { server: 'minimal HTTP/1.1 on node:net + Map (reference)', 'req/s': Math.round(n.rps), 'p50 ms': n.p50ms, 'p99 ms': n.p99ms, errors: n.errors, 'CPU µs/req': leastCpu(net) },
  ])}\n\nratio floodgate / raw node:http: ${(b.rps / r.rps).toFixed(3)} in req/s (best of ${ROUNDS} rounds each, ${b.tool}; target >= 0.95, issue 11)\n` +
    `                                 ${(leastCpu(raw) / leastCpu(fg)).toFixed(3)} in CPU per request (steadier on a busy machine)\n` +
    `node:http's own share of a raw read: ${(100 * (1 - leastCpu(net) / leastCpu(raw))).toFixed(0)} % of its CPU (raw node:http vs the node:net reference)\n`,
);
