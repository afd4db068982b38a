// The opening every server-side command shares: --help prints the command's text, otherwise the arguments
// become a validated Config, and a configuration mistake is one line on stderr and exit status 2.
import { ConfigError, loadConfig, type Config } from '../config.ts';

export type Loaded = { config: Config; extra: Record<string, string | boolean> };

/** The loaded configuration, or the exit status to return at once (0 after --help, 2 after a mistake). */
export function configFromArgs(command: string, argv: readonly string[], help: string, extraFlags: Readonly<Record<string, boolean>> = {}): Loaded | number {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(help);
    return 0;
  }
  try {
    return loadConfig(argv, process.env, extraFlags);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`floodgate ${command}: ${err.message}\n`);
    return 2;
  }
}
