// A throwaway PostgreSQL for the fault benchmark: initdb into a temp dir (as the postgres user when run as
// root), started with pg_ctl on a free loopback port, that can be killed (SIGKILL of the postmaster: a crash),
// frozen (SIGSTOP of the postmaster and its backends) and started again. Never the shared one on 5432.
import { execFileSync, spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../src/common/processes.ts';

const BIN = (() => {
  const root = '/usr/lib/postgresql';
  const version = existsSync(root) ? readdirSync(root).sort((a, b) => Number(b) - Number(a))[0] : undefined;
  return version === undefined ? '' : join(root, version, 'bin');
})();

export interface PrivatePostgres extends AsyncDisposable {
  readonly url: string;
  kill(): void;
  freeze(): void;
  thaw(): void;
  start(): void;
}

function asPostgres(cmd: string, args: string[]): void {
  const argv = process.getuid?.() === 0 ? ['runuser', '-u', 'postgres', '--', cmd, ...args] : [cmd, ...args];
  execFileSync(argv[0] as string, argv.slice(1), { stdio: ['ignore', 'ignore', 'pipe'], timeout: 60_000 });
}

/** The postmaster and every process it forked (backends, checkpointer, ...), from /proc. */
function tree(pid: number): number[] {
  const out = [pid];
  try {
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      for (const c of readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').split(' ').filter(Boolean)) out.push(...tree(Number(c)));
    }
  } catch {
    // gone
  }
  return out;
}

export async function startPrivatePostgres(): Promise<PrivatePostgres> {
  if (BIN === '') throw new Error('PostgreSQL binaries not found under /usr/lib/postgresql');
  const dir = mkdtempSync(join(tmpdir(), 'hostile-pg-'));
  if (process.getuid?.() === 0) chownSync(dir, Number(spawnSync('id', ['-u', 'postgres']).stdout.toString()), Number(spawnSync('id', ['-g', 'postgres']).stdout.toString()));
  const data = join(dir, 'data');
  const port = await freePort();
  asPostgres(join(BIN, 'initdb'), ['-D', data, '-A', 'trust', '-U', 'postgres', '--no-sync']);
  const start = (): void => asPostgres(join(BIN, 'pg_ctl'), ['-D', data, '-w', '-l', join(dir, 'log'), '-o', `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off`, 'start']);
  const postmaster = (): number | undefined => {
    try {
      return Number(readFileSync(join(data, 'postmaster.pid'), 'utf8').split('\n')[0]);
    } catch {
      return undefined;
    }
  };
  const signal = (sig: NodeJS.Signals, all: boolean): void => {
    const pid = postmaster();
    if (pid === undefined) return;
    for (const p of all ? tree(pid) : [pid]) {
      try {
        process.kill(p, sig);
      } catch {
        // already gone
      }
    }
  };
  start();
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    kill: () => signal('SIGKILL', true),
    freeze: () => signal('SIGSTOP', true),
    thaw: () => signal('SIGCONT', true),
    start,
    [Symbol.asyncDispose]: async () => {
      signal('SIGCONT', true);
      signal('SIGKILL', true);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
