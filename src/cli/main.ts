// The command dispatcher: one file per command under src/cli/, loaded only when asked for, so
// `floodgate flood` never loads the server and `floodgate serve` never loads the load generator.
export interface Command {
  /** One line for the command list. */
  readonly summary: string;
  /** Runs the command with the arguments after its name; resolves to the process exit code. */
  run(argv: string[]): Promise<number>;
}

const commands: Record<string, () => Promise<{ command: Command }>> = {
  serve: () => import('./serve.ts'),
  import: () => import('./import.ts'),
  export: () => import('./export.ts'),
  seed: () => import('./seed.ts'),
  warm: () => import('./warm.ts'),
  migrate: () => import('./migrate.ts'),
  flood: () => import('./flood.ts'),
  lab: () => import('./lab.ts'),
};

const USAGE = `floodgate: a Connected Content server that answers every request fast when traffic jumps a hundredfold.

Usage: floodgate <command> [options]      (floodgate <command> --help for each command's options)

Commands:
  serve     run the HTTP server (embedded SQLite by default; DATABASE_URL for PostgreSQL, REDIS_URL for Redis)
  import    load NDJSON or CSV content into the store
  export    write a collection as NDJSON (what import reads)
  seed      write the demo content (user ids 1..N) into the store
  warm      load an audience into a running server's memory (and Redis) before a send
  migrate   apply the store's schema migrations and exit
  flood     load-test an HTTP endpoint and say whether the result can be trusted
  lab       reproduce a traffic spike on this machine and print what each layer buys
`;

export async function main(argv: string[]): Promise<number> {
  const [first, ...others] = argv;
  // `floodgate help flood` is `floodgate flood --help`.
  const helpFor = first === 'help' && others[0] !== undefined;
  const name = helpFor ? others[0] : first;
  const rest = helpFor ? ['--help'] : others;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(USAGE);
    return name === undefined ? 2 : 0;
  }
  if (name === '--version' || name === '-v') {
    const { readFile } = await import('node:fs/promises');
    const pkg = JSON.parse(await readFile(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
    process.stdout.write(`floodgate ${pkg.version} (node ${process.version})\n`);
    return 0;
  }
  const load = Object.hasOwn(commands, name) ? commands[name] : undefined;
  if (!load) {
    process.stderr.write(`floodgate: unknown command '${name}'.\n\n${USAGE}`);
    return 2;
  }
  let mod: { command: Command };
  try {
    mod = await load();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ERR_MODULE_NOT_FOUND' && String(err).includes(`/cli/${name}.ts`)) {
      process.stderr.write(`floodgate: the '${name}' command is not built yet.\n`);
      return 2;
    }
    throw err;
  }
  return mod.command.run(rest);
}
