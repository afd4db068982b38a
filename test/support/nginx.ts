// Starts Debian's nginx for tests and benchmarks as a load balancer on a free loopback port, with its own
// prefix and config in a temp dir (nothing of the system's nginx is used): least_conn, keep-alive upstreams,
// and an idempotent request retried on the next upstream on error or timeout, as deploy/nginx/floodgate.conf.
//   await using lb = await startNginx([`127.0.0.1:${a.port}`, `127.0.0.1:${b.port}`]);
// The master dies with the test process (setpriv --pdeathsig where available, and an 'exit' hook).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, waitForHttp } from '../../src/common/processes.ts';

export const NGINX = ['/usr/sbin/nginx', '/usr/bin/nginx'].find((p) => existsSync(p));
const SETPRIV = ['/usr/bin/setpriv', '/bin/setpriv'].find((p) => existsSync(p) && spawnSync(p, ['--pdeathsig', 'KILL', '--', 'true'], { stdio: 'ignore' }).status === 0);

const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

export interface Nginx extends AsyncDisposable {
  readonly url: string;
  readonly port: number;
  /** nginx's error log so far (why an upstream was given up on). */
  errorLog(): string;
  stop(): Promise<void>;
}

export function nginxConfig(dir: string, port: number, upstreams: readonly string[]): string {
  return `worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${dir}/tmp/body;
  proxy_temp_path ${dir}/tmp/proxy;
  fastcgi_temp_path ${dir}/tmp/fastcgi;
  uwsgi_temp_path ${dir}/tmp/uwsgi;
  scgi_temp_path ${dir}/tmp/scgi;
  upstream floodgate {
    least_conn;
${upstreams.map((u) => `    server ${u} max_fails=1 fail_timeout=1s;`).join('\n')}
    keepalive 64;
  }
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://floodgate;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_connect_timeout 1s;
      proxy_read_timeout 5s;
      proxy_next_upstream error timeout;
      proxy_next_upstream_tries 2;
    }
  }
}
`;
}

export async function startNginx(upstreams: readonly string[]): Promise<Nginx> {
  if (NGINX === undefined) throw new Error('nginx is not installed: apt-get install nginx (.ci/run does)');
  const dir = mkdtempSync(join(tmpdir(), `fg-nginx-${process.pid}-`));
  mkdirSync(join(dir, 'tmp'));
  const port = await freePort();
  writeFileSync(join(dir, 'nginx.conf'), nginxConfig(dir, port, upstreams));
  const argv = [...(SETPRIV ? [SETPRIV, '--pdeathsig', 'KILL', '--'] : []), NGINX, '-p', dir, '-c', join(dir, 'nginx.conf'), '-g', 'daemon off;'];
  const child = spawn(argv[0] as string, argv.slice(1), { stdio: ['ignore', 'ignore', 'pipe'] });
  live.add(child);
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  let gone = false;
  const exited = once(child, 'close').then(() => {
    gone = true;
    live.delete(child);
  });
  const errorLog = (): string => {
    try {
      return readFileSync(join(dir, 'error.log'), 'utf8');
    } catch {
      return '';
    }
  };
  const stop = async (): Promise<void> => {
    if (!gone) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(dir, { recursive: true, force: true });
  };
  const url = `http://127.0.0.1:${port}`;
  // Any answer means nginx listens (a 502 too, while no upstream is up yet).
  const up = await waitForHttp(`${url}/healthz`, { timeoutMs: 10_000, intervalMs: 25, ready: () => true, gone: () => gone });
  if (up !== 'ready') {
    const log = errorLog();
    await stop();
    throw new Error(`nginx did not start (${up}): ${stderr}${log}`);
  }
  return { url, port, errorLog, stop, [Symbol.asyncDispose]: stop };
}
