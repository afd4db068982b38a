// Test support for flood: tiny local servers on 127.0.0.1:0 that clean up after themselves (`await using`), and
// ways to run flood as a library or as the real command.
import { execFile } from 'node:child_process';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { prepare, startFlood } from '../../src/flood/engine.ts';
import { resolveOptions, type RawOptions } from '../../src/flood/options.ts';
import type { FloodResult } from '../../src/flood/result.ts';

export interface TestServer extends AsyncDisposable {
  readonly url: string;
  readonly port: number;
  /** Requests the server has seen. */
  readonly hits: number;
  /** Request targets the server has seen (kept only when asked for). */
  readonly targets: string[];
}

export type Handler = (req: IncomingMessage, res: ServerResponse) => void;

/** Listens on a free loopback port; resolves with the port. */
async function listenOnLoopback(server: NetServer): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  return typeof address === 'object' && address !== null ? address.port : 0;
}

/** An HTTP server on a free loopback port; `await using srv = await startServer(handler)`. */
export async function startServer(handler: Handler, options: { keepTargets?: boolean } = {}): Promise<TestServer> {
  let hits = 0;
  const targets: string[] = [];
  const server = createServer((req, res) => {
    hits++;
    if (options.keepTargets) targets.push(req.url ?? '');
    handler(req, res);
  });
  server.keepAliveTimeout = 60_000;
  const port = await listenOnLoopback(server);
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    get hits() {
      return hits;
    },
    targets,
    [Symbol.asyncDispose]: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A raw TCP server whose connection handler decides everything (resets, garbage, silence). */
export async function startRawServer(onConnection: (socket: Socket) => void): Promise<TestServer> {
  const sockets = new Set<Socket>();
  let hits = 0;
  const server = createNetServer((socket) => {
    hits++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    onConnection(socket);
  });
  const port = await listenOnLoopback(server);
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    get hits() {
      return hits;
    },
    targets: [],
    [Symbol.asyncDispose]: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Runs flood as a library, in this process. */
export async function flood(raw: RawOptions): Promise<FloodResult> {
  const prepared = await prepare(resolveOptions(raw));
  return startFlood(prepared).done;
}

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

export interface CliResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs the real command, `floodgate flood …`, in a child process (asynchronously: the test's servers keep serving). */
export function cli(args: readonly string[], options: { cwd?: string } = {}): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(process.execPath, [join(ROOT, 'bin/floodgate.js'), 'flood', ...args], { cwd: options.cwd ?? ROOT, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1;
      resolve({ code, stdout, stderr });
    });
  });
}

/** A temporary directory, removed on dispose. */
export async function tempDir(): Promise<{ readonly path: string } & AsyncDisposable> {
  const path = await mkdtemp(join(tmpdir(), 'flood-test-'));
  return {
    path,
    [Symbol.asyncDispose]: async () => {
      await rm(path, { recursive: true, force: true });
    },
  };
}
