// floodgate serve: start the Connected Content server.
import { ConfigError, describeConfig, loadConfig, optionsHelp } from '../config.ts';
import { CollectionsError } from '../content/collections.ts';
import { createLogger, startApp } from '../app.ts';
import type { Command } from './main.ts';

const HELP = `floodgate serve: run the Connected Content server.

On its own it needs no services: it stores content in SQLite under ./data/, seeds demo users 1..100000
(collection "default") when the store is empty, and listens on port 8080. Set DATABASE_URL for PostgreSQL
and REDIS_URL for the Redis tier.

Usage: floodgate serve [options]

Options (flag, environment variable, meaning, default; flags win over the environment):
${optionsHelp()}
  --print-config   Print the resolved configuration (secrets masked) and exit.
  --help           This text.

Examples:
  floodgate serve
  PORT=9000 FLOODGATE_CACHE_BYTES=1GiB floodgate serve
  FLOODGATE_ADMIN_TOKEN=s3cret DATABASE_URL=postgres://app@db/app REDIS_URL=redis://cache:6379 floodgate serve
`;

export const command: Command = {
  summary: 'run the HTTP server',
  async run(argv) {
    if (argv.includes('--help') || argv.includes('-h')) {
      process.stdout.write(HELP);
      return 0;
    }
    let loaded;
    try {
      loaded = loadConfig(argv, process.env, { 'print-config': false });
    } catch (err) {
      if (err instanceof ConfigError) {
        process.stderr.write(`floodgate serve: ${err.message}\n`);
        return 2;
      }
      throw err;
    }
    const { config, extra } = loaded;
    if (extra['print-config']) {
      process.stdout.write(`${JSON.stringify(describeConfig(config), null, 2)}\n`);
      return 0;
    }
    const logger = createLogger(config);
    logger.info({ config: describeConfig(config) }, 'starting floodgate');
    let app;
    try {
      const tty = process.stderr.isTTY;
      app = await startApp(config, {
        logger,
        onSeedProgress: (done, total) => {
          if (tty) process.stderr.write(`\rseeding demo content: ${done}/${total}${done === total ? '\n' : ''}`);
        },
      });
    } catch (err) {
      if (err instanceof CollectionsError || (err as { code?: string }).code?.startsWith('FG_STORE')) {
        logger.fatal({ err }, 'cannot start');
        process.stderr.write(`floodgate serve: ${(err as Error).message}\n`);
        return 1;
      }
      if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE') {
        process.stderr.write(`floodgate serve: port ${config.port} is in use; choose another with --port or PORT.\n`);
        return 1;
      }
      throw err;
    }
    logger.info({ url: app.url }, 'listening');
    process.stdout.write(`floodgate is serving on ${app.url}\n  try: curl '${app.url}/data?user_id=42'\n`);
    await new Promise<void>((resolve) => {
      const stop = (signal: string): void => {
        logger.info({ signal }, 'shutting down');
        resolve();
      };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
    await app.close();
    return 0;
  },
};
