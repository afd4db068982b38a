// floodgate lab: reproduce the spike on this machine and print what each layer buys.
import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { renderLab, runLab } from '../lab/run.ts';
import { labScenarios } from '../lab/scenarios.ts';
import type { Command } from './main.ts';

const HELP = `floodgate lab: reproduce a traffic spike on this machine and print what each layer buys.

For each scenario it starts a real \`floodgate serve\` (pinned to core 0) and drives it with \`floodgate flood\`
(pinned to core 1), random user ids, keep-alive connections, then prints one table:

  store only (caches off) → Redis tier (memory off, with --redis-url) → memory tier
  → memory tier over HTTPS keep-alive → HTTPS with a new connection (TLS handshake) per request
  → memory tier with one worker per core

Usage: floodgate lab [options]

Options:
  --seconds N        measured seconds per scenario                       (default 10)
  -c, --connections N  keep-alive connections                            (default 100)
  --users N          demo user ids 1..N (seeded into a temporary store)  (default 100000)
  --only IDS         comma-separated scenario ids: store, redis, memory, https, https-new, workers
  --database-url URL run on PostgreSQL (a temporary schema, dropped after) instead of embedded SQLite
                     (default DATABASE_URL, else embedded)
  --redis-url URL    add the Redis row                                   (default REDIS_URL, else none)
  --help             this text

Example:
  floodgate lab --seconds 5
  DATABASE_URL=postgres://postgres@127.0.0.1/test REDIS_URL=redis://127.0.0.1:6379 floodgate lab
`;

export const command: Command = {
  summary: 'reproduce the spike on this machine and print the table',
  async run(argv) {
    let values;
    try {
      ({ values } = parseArgs({
        args: argv,
        options: {
          seconds: { type: 'string', default: '10' },
          connections: { type: 'string', short: 'c', default: '100' },
          users: { type: 'string', default: '100000' },
          only: { type: 'string' },
          'database-url': { type: 'string', default: process.env.DATABASE_URL ?? '' },
          'redis-url': { type: 'string', default: process.env.REDIS_URL ?? '' },
          help: { type: 'boolean', short: 'h' },
        },
        strict: true,
        allowPositionals: false,
      }));
    } catch (err) {
      process.stderr.write(`floodgate lab: ${(err as Error).message} (see --help)\n`);
      return 2;
    }
    if (values.help) {
      process.stdout.write(HELP);
      return 0;
    }
    const num = (name: string, v: string, min: number, max: number): number => {
      const n = Number(v);
      if (!Number.isInteger(n) || n < min || n > max) throw new Error(`--${name} must be a whole number from ${min} to ${max} (got ${v})`);
      return n;
    };
    const cores = availableParallelism();
    let seconds: number, connections: number, users: number;
    let scenarios = labScenarios({ cores, redis: values['redis-url'] !== '' });
    try {
      seconds = num('seconds', values.seconds, 1, 3600);
      connections = num('connections', values.connections, 1, 50_000);
      users = num('users', values.users, 1, 10_000_000);
      if (values.only) {
        const ids = values.only.split(',').map((s) => s.trim());
        const unknown = ids.filter((id) => !scenarios.some((s) => s.id === id));
        if (unknown.length > 0) throw new Error(`--only: unknown or unavailable scenario ${unknown.join(', ')} (available: ${scenarios.map((s) => s.id).join(', ')})`);
        scenarios = scenarios.filter((s) => ids.includes(s.id));
      }
    } catch (err) {
      process.stderr.write(`floodgate lab: ${(err as Error).message}\n`);
      return 2;
    }
    const dataDir = mkdtempSync(join(tmpdir(), 'floodgate-lab-'));
    const schema = `floodgate_lab_${process.pid}`;
    const databaseUrl = values['database-url'];
    process.stderr.write(`floodgate lab: ${scenarios.length} scenarios × ${seconds} s on ${databaseUrl ? 'PostgreSQL' : 'embedded SQLite'}, ${users} users, ${connections} connections, ${cores} cores\n`);
    try {
      const rows = await runLab(scenarios, { users, seconds, connections, dataDir, databaseUrl, redisUrl: values['redis-url'], schema, cores, log: (l) => process.stderr.write(`${l}\n`) });
      process.stdout.write(`\n${renderLab(rows)}\n`);
      if (cores < 2) process.stdout.write('\nOne core: server and load generator shared it, so the figures bound each other.\n');
      return 0;
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
      if (databaseUrl) {
        const postgres = (await import('postgres')).default;
        const sql = postgres(databaseUrl, { max: 1, onnotice: () => undefined });
        try {
          await sql.unsafe(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
        } finally {
          await sql.end();
        }
      }
    }
  },
};
