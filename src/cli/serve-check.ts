// `floodgate serve --check`: everything `serve` would check before it serves, without serving: the
// configuration (already loaded), the collections file, the TLS files, the store and its SQL collections,
// Redis, the port. One line per check; exit 0 when all pass, 2 for a configuration problem, 1 for a runtime one.
import { rmSync } from 'node:fs';
import type { Config } from '../config.ts';
import { prepareTls } from '../http/tls.ts';
import { checkPort, checkPreloadCollections, checkRedis, checkStore, classifyStartupError, readCollectionsFile, type CollectionsFile } from '../startup.ts';

export async function runCheck(config: Config, out: NodeJS.WritableStream = process.stdout): Promise<number> {
  let code = 0;
  const check = async (what: string, run: () => Promise<string>): Promise<boolean> => {
    try {
      out.write(`ok      ${what}: ${await run()}\n`);
      return true;
    } catch (err) {
      const problem = classifyStartupError(err, config);
      const exit = problem?.exitCode ?? 1;
      out.write(`FAILED  ${what}: ${problem?.message ?? (err as Error).message}\n`);
      code = code === 2 || exit === 2 ? 2 : 1;
      return false;
    }
  };
  out.write('ok      configuration: flags and environment\n');
  let collections: CollectionsFile | undefined;
  await check('collections', async () => {
    collections = await readCollectionsFile(config);
    return config.collections === '' ? 'none configured (collection default only)' : `${collections.defs.size - 1} in ${config.collections}`;
  });
  await check('tls', async () => {
    if (config.tlsSelfSigned && config.tlsCert === '') return 'a self-signed certificate is made at start';
    const files = prepareTls(config);
    if (files?.temporaryDir) rmSync(files.temporaryDir, { recursive: true, force: true });
    return files ? `certificate ${config.tlsCert} and its key` : 'off (plain HTTP)';
  });
  await check('store', async () => {
    // Migrations are not applied: --check changes nothing (a PostgreSQL store not yet migrated still connects).
    await checkStore(config, collections?.defs ?? new Map(), false);
    return config.databaseUrl === '' ? `SQLite in ${config.dataDir}` : 'PostgreSQL answers';
  });
  if (config.preload !== '') await check('preload', async () => `${(await checkPreloadCollections(config, collections?.defs ?? new Map())).join(', ')}: store collections`);
  if (config.redisUrl !== '') await check('redis', async () => (await checkRedis(config), 'answers PING'));
  await check('port', async () => (await checkPort(config.host, config.port), config.port === 0 ? 'any free port' : `${config.host}:${config.port} is free`));
  out.write(code === 0 ? 'floodgate serve --check: ready to serve\n' : `floodgate serve --check: not ready (exit ${code})\n`);
  return code;
}
