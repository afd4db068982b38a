// Runs the lab: for each scenario, a real `floodgate serve` pinned to core 0 and a real `floodgate flood`
// pinned to core 1 (where the machine has two cores and taskset), then one table of what each layer buys.
import type { ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { resultsFromText } from '../flood/json.ts';
import { freePort, httpGet as get, spawnPinned, stopChild, waitForHttp } from '../common/processes.ts';
import type { FloodResult } from '../flood/result.ts';
import { summarize } from '../flood/result.ts';
import { verdict } from '../flood/verdict.ts';
import type { LabScenario } from './scenarios.ts';

/** Each row measures what a tier can answer with content: event-loop shedding off, or a saturated row's excess would be fast 503s. */
const CAPACITY = ['--max-event-loop-delay', '0'];

const BIN = fileURLToPath(new URL('../../bin/floodgate.js', import.meta.url));

export interface LabOptions {
  users: number;
  seconds: number;
  connections: number;
  dataDir: string;
  databaseUrl: string;
  redisUrl: string;
  schema: string;
  cores: number;
  log: (line: string) => void;
}

export interface LabRow {
  scenario: LabScenario;
  result: FloodResult;
  /** Store reads per answered request during the measured run (from the server's own counter). */
  storeReadsPerRequest: number;
}

async function storeReads(base: string): Promise<number> {
  let body = '';
  for (let attempt = 1; ; attempt++) {
    try {
      body = (await get(`${base}/metrics`)).body;
      break;
    } catch (err) {
      if (attempt >= 5) throw new Error(`the server's /metrics did not answer: ${(err as Error).message}`);
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
  let n = 0;
  for (const line of body.split('\n')) {
    const m = /^floodgate_store_queries_total\{op="(get|query)"[^}]*\} (\S+)$/.exec(line);
    if (m) n += Number(m[2]);
  }
  return n;
}


/** Runs `floodgate flood … --json -` pinned to core 1 and returns its result. */
function flood(args: string[], cores: number): Promise<FloodResult> {
  return new Promise((resolve, reject) => {
    const child = spawnPinned(1, [process.execPath, '--disable-warning=ExperimentalWarning', BIN, 'flood', ...args, '--json', '-'], {}, cores);
    let out = '';
    let err = '';
    child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) => {
      if (code !== 0 && code !== 1) return reject(new Error(`floodgate flood exited ${code}: ${err.trim().split('\n').slice(-3).join(' ')}`));
      try {
        const [result] = resultsFromText(out, 'flood output');
        if (!result) throw new Error('no result');
        resolve(result);
      } catch (e) {
        reject(new Error(`could not read floodgate flood's JSON: ${(e as Error).message}`));
      }
    });
  });
}

async function startServe(s: LabScenario, opts: LabOptions): Promise<{ child: ChildProcess; base: string; stderr: () => string }> {
  const port = await freePort();
  const args = ['serve', '--port', String(port), '--host', '127.0.0.1', '--data-dir', opts.dataDir, '--seed', String(opts.users), '--workers', String(s.workers), '--log-level', 'warn', '--db-schema', opts.schema, ...CAPACITY, ...s.serve];
  const env = { ...process.env, DATABASE_URL: opts.databaseUrl, REDIS_URL: s.needsRedis ? opts.redisUrl : '', FLOODGATE_REDIS_PREFIX: `${opts.schema}:`, FLOODGATE_ADMIN_TOKEN: '' };
  const argv = [process.execPath, '--disable-warning=ExperimentalWarning', BIN, ...args];
  // Several workers spread over the cores; one is pinned to core 0, the generator to core 1.
  const child = spawnPinned(0, argv, { env, stdio: ['ignore', 'ignore', 'pipe'] }, s.workers === 1 ? opts.cores : 1);
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  const base = `${s.https ? 'https' : 'http'}://127.0.0.1:${port}`;
  const up = await waitForHttp(`${base}/healthz`, { timeoutMs: 120_000, gone: () => child.exitCode !== null });
  if (up === 'gone') throw new Error(`floodgate serve exited ${child.exitCode}: ${stderr.trim()}`);
  if (up === 'timeout') {
    await stopChild(child, 15_000);
    throw new Error(`floodgate serve did not answer within 120 s: ${stderr.trim()}`);
  }
  return { child, base, stderr: () => stderr };
}

export async function runLab(scenarios: readonly LabScenario[], opts: LabOptions): Promise<LabRow[]> {
  const rows: LabRow[] = [];
  for (const s of scenarios) {
    opts.log(`▸ ${s.label}: starting floodgate serve${s.workers > 1 ? ` with ${s.workers} workers` : ''}`);
    const { child, base } = await startServe(s, opts);
    try {
      const url = `${base}/data?user_id={{int 1 ${opts.users}}}`;
      if (s.warm) {
        opts.log(`  warming: every id 1..${opts.users} once`);
        const insecure = s.https ? ['--insecure'] : [];
        await flood([`${base}/data?user_id={{seq 1}}`, '-c', String(Math.min(opts.connections, 100)), '-n', String(opts.users), '-t', '10s', ...insecure], opts.cores);
      }
      const before = await storeReads(base);
      opts.log(`  measuring: ${opts.connections} connections, ${opts.seconds} s, random ids`);
      const result = await flood([url, '-c', String(opts.connections), '-d', `${opts.seconds}s`, '--name', s.label, ...s.flood], opts.cores);
      const after = await storeReads(base);
      const answered = summarize(result).hits;
      rows.push({ scenario: s, result, storeReadsPerRequest: answered === 0 ? 0 : (after - before) / answered });
    } finally {
      await stopChild(child, 15_000);
    }
  }
  return rows;
}

export function renderLab(rows: readonly LabRow[]): string {
  const fmtMs = (ms: number): string => (ms < 10 ? ms.toFixed(2) : ms < 100 ? ms.toFixed(1) : ms.toFixed(0));
  const header = ['scenario', 'req/s', 'p50 ms', 'p99 ms', 'max ms', 'errors', 'timeouts', 'store reads/req', '× store only', 'flood verdict'];
  const base = rows.find((r) => r.scenario.id === 'store');
  const baseRps = base ? summarize(base.result).rps : undefined;
  const body = rows.map((r) => {
    const s = summarize(r.result);
    const v = verdict(r.result);
    return [
      r.scenario.label,
      Math.round(s.rps).toLocaleString('en-US'),
      fmtMs(s.latency.p50),
      fmtMs(s.latency.p99),
      fmtMs(s.latency.max),
      String(s.errors),
      String(s.timeouts),
      r.storeReadsPerRequest.toFixed(3),
      baseRps ? `${(s.rps / baseRps).toFixed(1)}×` : '–',
      v.trustworthy ? 'trustworthy' : `generator-bound from ${v.generatorBoundFrom ?? 0} s`,
    ];
  });
  const all = [header, ...body];
  const widths = header.map((_, i) => Math.max(...all.map((row) => (row[i] ?? '').length)));
  const line = (row: string[]): string => row.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : i === row.length - 1 ? c : c.padStart(widths[i] ?? 0))).join('  ');
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(line)].join('\n');
}
