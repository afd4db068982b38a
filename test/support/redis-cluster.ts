// Starts a throwaway three-master Redis Cluster on free loopback ports: one redis-server per node (each with
// its own temp dir and an explicit cluster bus port, so port+10000 need not be free), joined by
// `redis-cli --cluster create`, ready once every node reports cluster_state:ok and all 16384 slots.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { freePort, makeTempDir, RedisProcess } from './redis-server.ts';

const run = promisify(execFile);
const REDIS_CLI = existsSync('/usr/bin/redis-cli') ? '/usr/bin/redis-cli' : 'redis-cli';
const MASTERS = 3;
const READY_TIMEOUT_MS = 15_000;

export interface ClusterNodeHandle {
  readonly port: number;
  /** Kills the node (a crash); its nodes.conf stays, so start() brings it back with the same slots. */
  stop(): Promise<void>;
  start(): Promise<void>;
  /** SIGSTOP / SIGCONT: the node keeps its connections but answers nothing. */
  pause(): void;
  resume(): void;
}

export interface RedisCluster extends AsyncDisposable {
  /** 'redis+cluster://127.0.0.1:P1' (the first node; clients discover the rest). */
  readonly url: string;
  /** Every node, 'redis://127.0.0.1:P1,redis://127.0.0.1:P2,...'. */
  readonly urls: string;
  readonly nodes: readonly ClusterNodeHandle[];
  /** Resolves once every running node reports cluster_state:ok with all slots assigned. */
  waitUntilOk(): Promise<void>;
}

async function cli(port: number, ...args: string[]): Promise<string> {
  const { stdout } = await run(REDIS_CLI, ['-h', '127.0.0.1', '-p', String(port), ...args], { timeout: 10_000 });
  return stdout;
}

async function clusterOk(port: number): Promise<boolean> {
  try {
    const info = await cli(port, 'cluster', 'info');
    return info.includes('cluster_state:ok') && info.includes('cluster_slots_ok:16384');
  } catch {
    return false;
  }
}

async function startNode(root: string, index: number): Promise<RedisProcess> {
  const dir = join(root, `node${index}`);
  await mkdir(dir, { recursive: true });
  for (let attempt = 1; ; attempt++) {
    const proc = new RedisProcess(await freePort(), dir, [
      '--cluster-enabled', 'yes', '--cluster-config-file', join(dir, 'nodes.conf'),
      '--cluster-port', String(await freePort()), '--cluster-node-timeout', '2000',
    ]);
    try {
      await proc.start();
      return proc;
    } catch (err) {
      if (attempt >= 3) throw err;
    }
  }
}

/** `await using cluster = await startRedisCluster()`: three masters, no replicas, torn down on dispose. */
export async function startRedisCluster(): Promise<RedisCluster> {
  const root = await makeTempDir('redis-cluster');
  const procs: RedisProcess[] = [];
  const teardown = async (): Promise<void> => {
    await Promise.all(procs.map((p) => p.stop()));
    await rm(root, { recursive: true, force: true });
  };
  const waitUntilOk = async (): Promise<void> => {
    const deadline = Date.now() + READY_TIMEOUT_MS;
    for (;;) {
      const states = await Promise.all(procs.filter((p) => p.running).map((p) => clusterOk(p.port)));
      if (states.every(Boolean)) return;
      if (Date.now() > deadline) throw new Error(`the cluster did not reach cluster_state:ok in ${READY_TIMEOUT_MS} ms`);
      await sleep(50);
    }
  };
  try {
    for (let i = 0; i < MASTERS; i++) procs.push(await startNode(root, i));
    const addresses = procs.map((p) => `127.0.0.1:${p.port}`);
    await run(REDIS_CLI, ['--cluster', 'create', ...addresses, '--cluster-replicas', '0', '--cluster-yes'], {
      timeout: READY_TIMEOUT_MS,
    });
    await waitUntilOk();
  } catch (err) {
    await teardown();
    throw err;
  }
  return {
    url: `redis+cluster://127.0.0.1:${procs[0]?.port}`,
    urls: procs.map((p) => `redis://127.0.0.1:${p.port}`).join(','),
    nodes: procs.map((p) => ({
      port: p.port, stop: () => p.stop(), start: () => p.start(), pause: () => p.pause(), resume: () => p.resume(),
    })),
    waitUntilOk,
    [Symbol.asyncDispose]: teardown,
  };
}
