// floodgate serve: start the Connected Content server.
import { describeConfig, optionsHelp, printableConfig, type Config } from '../config.ts';
import { CollectionsError } from '../content/collections.ts';
import cluster from 'node:cluster';
import { readFileSync, rmSync } from 'node:fs';
import { backlogNote, createLogger, prepareStore, startApp, type App } from '../app.ts';
import { Supervisor, serveAsWorker } from '../cluster.ts';
import { offerMetrics, scrapeThroughPrimary } from '../cluster-metrics.ts';
import { TlsConfigError, prepareTls, type TlsFiles } from '../http/tls.ts';
import { freePort } from '../common/processes.ts';
import { installProcessGuard } from '../process-guard.ts';
import { configFromArgs } from './config-args.ts';
import type { Command } from './main.ts';

const HELP = `floodgate serve: run the Connected Content server.

On its own it needs no services: it stores content in SQLite under ./data/, seeds demo users 1..100000
(collection "default") when the store is empty, and listens on port 8080. Set DATABASE_URL for PostgreSQL
and REDIS_URL for the Redis tier.

Usage: floodgate serve [options]

Options (flag, environment variable, meaning, default; flags win over the environment):
${optionsHelp()}
  --print-config   Print the resolved configuration as flags and values (secrets masked) and exit.
  --help           This text.

Examples:
  floodgate serve
  PORT=9000 FLOODGATE_CACHE_BYTES=1GiB floodgate serve
  FLOODGATE_ADMIN_TOKEN=s3cret DATABASE_URL=postgres://app@db/app REDIS_URL=redis://cache:6379 floodgate serve
`;

export const command: Command = {
  summary: 'run the HTTP server',
  async run(argv) {
    const loaded = configFromArgs('serve', argv, HELP, { 'print-config': false });
    if (typeof loaded === 'number') return loaded;
    const { config, extra } = loaded;
    if (extra['print-config']) {
      process.stdout.write(`${JSON.stringify(printableConfig(config), null, 2)}\n`);
      return 0;
    }
    return cluster.isWorker ? worker(config) : primary(config);
  },
};

/** What the primary decided for every worker: the concrete port (so a replaced worker binds the same one) and TLS. */
const WORKER_PORT = 'FLOODGATE_WORKER_PORT';
const WORKER_TLS = 'FLOODGATE_WORKER_TLS';

/** A start-up failure the user can fix: printed as one line, exit code 1. */
function startupProblem(err: unknown, config: Config): string | undefined {
  if (err instanceof CollectionsError || err instanceof TlsConfigError || (err as { code?: string }).code?.startsWith('FG_STORE')) return (err as Error).message;
  if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE') return `port ${config.port} is in use; choose another with --port or PORT.`;
  return undefined;
}

/** The supervisor: migrate and seed once, decide port and TLS, fork the workers, act on signals. */
async function primary(config: Config): Promise<number> {
  const logger = createLogger(config);
  installProcessGuard(logger);
  logger.info({ config: describeConfig(config) }, 'starting floodgate');
  let env: Record<string, string>;
  let tlsDir: string | undefined;
  try {
    const tty = process.stderr.isTTY;
    await prepareStore(config, logger, (done, total) => {
      if (tty) process.stderr.write(`\rseeding demo content: ${done}/${total}${done === total ? '\n' : ''}`);
    });
    const tls = prepareTls(config, (msg) => logger.info(msg));
    const port = config.port === 0 ? await freePort(config.host) : config.port;
    env = { [WORKER_PORT]: String(port), ...(tls ? { [WORKER_TLS]: JSON.stringify(tls) } : {}) };
    tlsDir = tls?.temporaryDir;
  } catch (err) {
    const problem = startupProblem(err, config);
    if (problem === undefined) throw err;
    logger.fatal({ err }, 'cannot start');
    process.stderr.write(`floodgate serve: ${problem}\n`);
    return 1;
  }
  const supervisor = new Supervisor({ workers: config.workers, shutdownTimeoutMs: config.shutdownTimeout, logger, env });
  const stopped = new Promise<void>((resolve) => {
    const stop = (signal: string): void => {
      logger.info({ signal }, 'shutting down: draining the workers');
      supervisor.stop().then(resolve, resolve);
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    process.on('SIGHUP', () => {
      supervisor.rollingRestart().catch((err: unknown) => logger.error({ err }, 'rolling restart failed'));
    });
  });
  let url: string;
  try {
    url = await supervisor.start();
  } catch (err) {
    logger.fatal({ err }, 'a worker failed to start');
    process.stderr.write(`floodgate serve: ${(err as Error).message}\n`);
    await supervisor.stop();
    if (tlsDir) rmSync(tlsDir, { recursive: true, force: true });
    return 1;
  }
  logger.info({ url, workers: config.workers }, 'listening');
  const note = backlogNote(config.backlog, readIfExists('/proc/sys/net/core/somaxconn'));
  if (note !== undefined) logger.info({ backlog: config.backlog }, note);
  process.stdout.write(`floodgate is serving on ${url} (${config.workers} worker${config.workers === 1 ? '' : 's'})\n  try: curl ${url.startsWith('https') ? '-k ' : ''}'${url}/data?user_id=42'\n`);
  await stopped;
  if (tlsDir) rmSync(tlsDir, { recursive: true, force: true });
  logger.info('stopped');
  return 0;
}

async function worker(config: Config): Promise<number> {
  const logger = createLogger(config);
  // Before startApp: the warm-up already answers reads.
  const guard = installProcessGuard(logger);
  const port = Number(process.env[WORKER_PORT] ?? config.port);
  const tlsEnv = process.env[WORKER_TLS];
  const tls = tlsEnv === undefined ? null : (JSON.parse(tlsEnv) as TlsFiles);
  let app: App;
  try {
    app = await startApp({ ...config, port }, { logger, prepared: true, tls, ipc: process, scrape: scrapeThroughPrimary(), unhandledRejections: () => guard.rejections });
  } catch (err) {
    const problem = startupProblem(err, config);
    if (problem === undefined) throw err;
    logger.fatal({ err }, 'worker cannot start');
    process.stderr.write(`floodgate serve: ${problem}\n`);
    // The IPC channel would keep this process alive, and the primary waiting for it: let go, so it exits (1).
    cluster.worker?.disconnect();
    return 1;
  }
  offerMetrics(app.registry); // listening, warmed up: counted from here on
  return serveAsWorker(app, config.shutdownTimeout);
}

function readIfExists(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}
