// Two chores shared by everything that starts processes on this machine (the serve command's primary, the
// lab, the benchmarks, the tests): picking a free port, and stopping a child process for certain.
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';

/** A port nobody listens on right now on `host` (the kernel's pick). */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  const srv = createServer().listen(0, host);
  await once(srv, 'listening');
  const address = srv.address();
  srv.close();
  await once(srv, 'close');
  if (address === null || typeof address === 'string') throw new Error('could not pick a free port');
  return address.port;
}

/** SIGTERM (a graceful stop), SIGKILL if it has not exited after graceMs; resolves once it has exited. */
export async function stopChild(child: ChildProcess, graceMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  const kill = setTimeout(() => child.kill('SIGKILL'), graceMs);
  try {
    await exited;
  } finally {
    clearTimeout(kill);
  }
}
