// floodgate serve: start the Connected Content server.
import cluster from 'node:cluster';
import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { HINT_KEY, backlogNote, createLogger, prepareStore, startApp, type App } from '../app.ts';
import { Supervisor, reportStartFailure, serveAsWorker } from '../cluster.ts';
import { offerMetrics, scrapeThroughPrimary, workerMetricsThroughPrimary } from '../cluster-metrics.ts';
import { freePort } from '../common/processes.ts';
import { describeConfig, optionsHelp, printableConfig, type Config } from '../config.ts';
import { prepareTls, type TlsFiles } from '../http/tls.ts';
import { checkPort, checkPreloadCollections, checkStore, classifyStartupError, collectionsFromText, readCollectionsFile, type CollectionsFile } from '../startup.ts';
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
  --check          Check the configuration, the collections file, the TLS files, and connect to the store
                   and Redis, without serving; exit 0 when ready, 2 for a configuration problem, 1 for a
                   dependency or the port.
  --help           This text.

Examples:
  floodgate serve
  PORT=9000 FLOODGATE_CACHE_BYTES=1GiB floodgate serve
  floodgate serve --preload default --cache-bytes 1GiB     (the whole audience in memory before it listens)
  FLOODGATE_ADMIN_TOKEN=s3cret DATABASE_URL=postgres://app@db/app REDIS_URL=redis://cache:6379 floodgate serve
`;

export const command: Command = {
  summary: 'run the HTTP server',
  async run(argv) {
    const loaded = configFromArgs('serve', argv, HELP, { 'print-config': false, check: false });
    if (typeof loaded === 'number') return loaded;
    const { config, extra } = loaded;
    if (extra['print-config']) {
      process.stdout.write(`${JSON.stringify(printableConfig(config), null, 2)}\n`);
      return 0;
    }
    if (extra.check) {
      const { runCheck } = await import('./serve-check.ts');
      return runCheck(config);
    }
    return cluster.isWorker ? worker(config) : primary(config);
  },
};

/** What the primary decided for every worker: the concrete port (so a replaced worker binds the same one), TLS, and the checked collections file. */
const WORKER_PORT = 'FLOODGATE_WORKER_PORT';
const WORKER_TLS = 'FLOODGATE_WORKER_TLS';
const WORKER_COLLECTIONS = 'FLOODGATE_WORKER_COLLECTIONS';
/** The instance's id, the same in every worker: its own warm notices on the Redis bus are not for it. */
const WORKER_INSTANCE = 'FLOODGATE_WORKER_INSTANCE';

/** One line on stderr, once, and the exit code: 2 for configuration, 1 for runtime; a bug is rethrown. */
function cannotStart(err: unknown, config: Config, logger: Logger): number {
  const problem = classifyStartupError(err, config);
  if (problem === undefined) throw err;
  logger.debug({ err }, 'cannot start');
  process.stderr.write(`floodgate serve: ${problem.message}\n`);
  return problem.exitCode;
}

/** The supervisor: check everything once, migrate and seed once, decide port and TLS, fork the workers, act on signals. */
async function primary(config: Config): Promise<number> {
  const logger = createLogger(config);
  installProcessGuard(logger);
  logger.info({ config: describeConfig(config) }, 'starting floodgate');
  let env: Record<string, string>;
  let tlsDir: string | undefined;
  let hintKeyExists = false;
  try {
    const collections = await readCollectionsFile(config);
    const tls = prepareTls(config, (msg) => logger.info(msg));
    tlsDir = tls?.temporaryDir;
    // The port first: a second `floodgate serve` on a busy port says so at once, before it migrates or seeds anything.
    await checkPort(config.host, config.port);
    const tty = process.stderr.isTTY;
    ({ hintKeyExists } = await prepareStore(config, logger, (done, total) => {
      if (tty) process.stderr.write(`\rseeding demo content: ${done}/${total}${done === total ? '\n' : ''}`);
    }));
    if ([...collections.defs.values()].some((d) => d.query !== undefined)) await checkStore(config, collections.defs, false);
    await checkPreloadCollections(config, collections.defs);
    const port = config.port === 0 ? await freePort(config.host) : config.port;
    env = { [WORKER_PORT]: String(port), [WORKER_COLLECTIONS]: collections.text, [WORKER_INSTANCE]: randomUUID(), ...(tls ? { [WORKER_TLS]: JSON.stringify(tls) } : {}) };
  } catch (err) {
    if (tlsDir) rmSync(tlsDir, { recursive: true, force: true });
    return cannotStart(err, config, logger);
  }
  const supervisor = new Supervisor({ workers: config.workers, shutdownTimeoutMs: config.shutdownTimeout, logger, env });
  // SIGHUP: the collections file is read and checked here, once; a bad one is logged and changes nothing, a good
  // one rolls every worker onto it. Reloads run one after another.
  let reloads = Promise.resolve();
  const reload = async (): Promise<void> => {
    let file: CollectionsFile;
    try {
      file = await readCollectionsFile(config);
      if ([...file.defs.values()].some((d) => d.query !== undefined)) await checkStore(config, file.defs, false);
      await checkPreloadCollections(config, file.defs);
    } catch (err) {
      const problem = classifyStartupError(err, config);
      logger.error({ event: 'reload-refused', problem: problem?.message ?? String(err) }, 'reload refused: the new configuration is not valid; the workers keep the current one');
      return;
    }
    logger.info({ event: 'reload', workers: config.workers }, 'reloading: rolling every worker onto the new configuration');
    const next = { ...env, [WORKER_COLLECTIONS]: file.text };
    if (await supervisor.reload(next)) {
      env = next;
      logger.info({ event: 'reloaded', workers: config.workers }, 'reloaded: every worker serves the new configuration');
    }
  };
  const stopped = new Promise<void>((resolve) => {
    const stop = (signal: string): void => {
      logger.info({ signal }, 'shutting down: draining the workers');
      supervisor.stop().then(resolve, resolve);
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    process.on('SIGHUP', () => {
      reloads = reloads.then(reload).catch((err: unknown) => logger.error({ err }, 'reload failed'));
    });
  });
  let url: string;
  try {
    url = await supervisor.start();
  } catch (err) {
    await supervisor.stop();
    if (tlsDir) rmSync(tlsDir, { recursive: true, force: true });
    logger.debug({ err }, 'a worker failed to start');
    process.stderr.write(`floodgate serve: ${(err as Error).message}\n`);
    return (err as { exitCode?: number }).exitCode === 2 ? 2 : 1;
  }
  logger.info({ url, workers: config.workers }, 'listening');
  adviseBacklog(config, logger);
  const hint = hintKeyExists ? `\n  try: curl ${url.startsWith('https') ? '-k ' : ''}'${url}/data?user_id=${HINT_KEY}'` : '';
  process.stdout.write(`floodgate is serving on ${url} (${config.workers} worker${config.workers === 1 ? '' : 's'})${hint}\n`);
  await stopped;
  if (tlsDir) rmSync(tlsDir, { recursive: true, force: true });
  logger.info('stopped');
  return 0;
}

/**
 * The somaxconn advisory, once per host: the first start writes a marker in the system's temp directory (which
 * a reboot clears, as it resets a sysctl set by hand); later starts log it at debug level only.
 */
function adviseBacklog(config: Config, logger: Logger): void {
  const note = backlogNote(config.backlog, readIfExists('/proc/sys/net/core/somaxconn'));
  if (note === undefined) return;
  const marker = join(tmpdir(), `floodgate-somaxconn-advised-${config.backlog}`);
  if (existsSync(marker)) {
    logger.debug({ backlog: config.backlog, marker }, note);
    return;
  }
  logger.info({ backlog: config.backlog }, `${note} (said once per host; ${marker} marks it said)`);
  try {
    writeFileSync(marker, `${new Date().toISOString()}\n`);
  } catch {
    // a read-only temp directory: the advisory repeats, which is harmless
  }
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
    const text = process.env[WORKER_COLLECTIONS];
    const collections = text === undefined ? undefined : collectionsFromText(text, config);
    app = await startApp({ ...config, port }, { logger, prepared: true, tls, collections, ipc: process, instance: process.env[WORKER_INSTANCE], scrape: scrapeThroughPrimary(), workerMetrics: workerMetricsThroughPrimary(), unhandledRejections: () => guard.rejections });
  } catch (err) {
    // Said once, by the primary: this worker only hands it the line and its exit code.
    const problem = classifyStartupError(err, { ...config, port });
    if (problem === undefined) logger.error({ err }, 'worker cannot start');
    reportStartFailure(problem?.message ?? `a worker could not start: ${(err as Error).message}`, problem?.exitCode ?? 1);
    // The IPC channel would keep this process alive, and the primary waiting for it: let go, so it exits.
    cluster.worker?.disconnect();
    return problem?.exitCode ?? 1;
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
