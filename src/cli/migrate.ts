// floodgate migrate: apply the store's schema migrations and exit (deploy step before rolling out instances;
// instances also migrate at start, under the same advisory lock, so running both is safe).
import { openStore, storeOptions } from '../store/open.ts';
import { migratePostgres } from '../store/postgres.ts';
import { configFromArgs } from './config-args.ts';
import type { Command } from './main.ts';

const HELP = `floodgate migrate: apply the store's schema migrations and exit.

With DATABASE_URL (postgres://…) it applies the pending PostgreSQL migrations in one transaction under an
advisory lock, so it is safe while other instances run or start. Without it, it creates the embedded SQLite
file (the SQLite schema is applied whenever the file is opened).

Usage: floodgate migrate [--database-url <url>] [--db-schema <name>] [--data-dir <dir>]

  --database-url <url>   DATABASE_URL          postgres:// or postgresql://; empty = embedded SQLite
  --db-schema <name>     FLOODGATE_DB_SCHEMA   PostgreSQL schema (default floodgate)
  --data-dir <dir>       FLOODGATE_DATA_DIR    folder of floodgate.db (default ./data)

Exit status: 0 applied or up to date, 1 the store failed, 2 bad usage.
`;

export const command: Command = {
  summary: "apply the store's schema migrations and exit",
  async run(argv) {
    const loaded = configFromArgs('migrate', argv, HELP);
    if (typeof loaded === 'number') return loaded;
    const { config } = loaded;
    try {
      if (config.databaseUrl === '') {
        const store = await openStore(storeOptions(config));
        await store.close();
        process.stdout.write(`floodgate migrate: the SQLite store in ${config.dataDir} is ready.\n`);
        return 0;
      }
      if (!/^postgres(ql)?:\/\//i.test(config.databaseUrl)) {
        process.stderr.write('floodgate migrate: DATABASE_URL must start with postgres:// or postgresql:// (or be empty for SQLite).\n');
        return 2;
      }
      const applied = await migratePostgres({ url: config.databaseUrl, schema: config.dbSchema });
      process.stdout.write(applied.length > 0
        ? `floodgate migrate: applied ${applied.join(', ')} to schema ${config.dbSchema}.\n`
        : `floodgate migrate: schema ${config.dbSchema} is up to date.\n`);
      return 0;
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      process.stderr.write(`floodgate migrate: ${err instanceof Error ? err.message : String(err)}${typeof code === 'string' ? ` (${code})` : ''}\n`);
      return err instanceof RangeError ? 2 : 1;
    }
  },
};
