// Starts floodgate in this process on an ephemeral port, on its own temp data dir (or its own PostgreSQL
// schema), with cleanup that cannot be forgotten: `await using app = await startTestApp()`.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import postgres from 'postgres';
import { startApp, type App } from '../../src/app.ts';
import { loadConfig } from '../../src/config.ts';

export const PG_URL = process.env.FLOODGATE_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
export const REDIS_URL = process.env.FLOODGATE_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

/** The backends every read/write test runs against. */
export const BACKENDS = {
  embedded: {},
  'postgres+redis': { DATABASE_URL: PG_URL, REDIS_URL },
} as const satisfies Record<string, Record<string, string>>;
export type Backend = keyof typeof BACKENDS;

export interface TestApp extends App {
  readonly dataDir: string;
  readonly schema: string;
}

/** Starts the app; `env` is the environment it sees (FLOODGATE_*, DATABASE_URL, …), `args` its flags. */
export async function startTestApp(opts: { env?: Record<string, string>; args?: string[]; backend?: Backend } = {}): Promise<TestApp> {
  const dataDir = mkdtempSync(join(tmpdir(), 'fg-test-'));
  const schema = `fg_t_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
  // Event-loop shedding off unless a test asks for it: the app shares its event loop with the test's own clients
  // (1,000 connections opened in one tick are the app's queue too) and with the file's other apps. Shedding has
  // its own tests (test/overload/), which configure it.
  const env = { FLOODGATE_SEED: '1000', FLOODGATE_MAX_EVENT_LOOP_DELAY: '0', ...(opts.backend ? BACKENDS[opts.backend] : {}), ...opts.env };
  const { config } = loadConfig(['--port', '0', '--host', '127.0.0.1', '--data-dir', dataDir, '--db-schema', schema, '--redis-prefix', `${schema}:`, '--log-level', 'silent', ...(opts.args ?? [])], env);
  let app: App;
  try {
    app = await startApp(config, { logger: pino({ level: 'silent' }) });
  } catch (err) {
    rmSync(dataDir, { recursive: true, force: true });
    await dropSchema(config.databaseUrl, schema);
    throw err;
  }
  const close = async (): Promise<void> => {
    await app.close();
    rmSync(dataDir, { recursive: true, force: true });
    await dropSchema(config.databaseUrl, schema);
  };
  return { ...app, dataDir, schema, close, [Symbol.asyncDispose]: close };
}

async function dropSchema(url: string, schema: string): Promise<void> {
  if (url === '') return;
  const sql = postgres(url, { max: 1, onnotice: () => undefined });
  try {
    await sql.unsafe(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  } finally {
    await sql.end();
  }
}

