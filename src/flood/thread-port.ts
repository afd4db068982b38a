// What every flood worker thread does (--threads > 1): read its plan, build its engine, forward the engine's
// once-a-second reports to the main thread, start at the epoch it is sent and stop when told. worker.ts (the
// open and closed models) and campaign/worker.ts differ only in the engine they build.
import { parentPort, workerData } from 'node:worker_threads';
import { performance } from 'node:perf_hooks';

/** The part of a thread engine the port drives. */
export interface PortEngine {
  start(epochMs: number): void;
  stop(): void;
  readonly done: Promise<unknown>;
}

/** Runs the engine `make` builds from this thread's plan; `entry` names the file in the error outside a thread. */
export async function runOnPort<Plan, Report>(entry: string, make: (plan: Plan, sink: (report: Report) => void) => PortEngine): Promise<void> {
  const port = parentPort;
  if (port === null) throw new Error(`${entry} runs only as a worker thread`);
  const { plan } = workerData as { plan: Plan };
  const engine = make(plan, (report) => port.postMessage({ type: 'report', report }));
  port.on('message', (m: { type: string; epoch?: number }) => {
    if (m.type === 'start' && m.epoch !== undefined) engine.start(m.epoch - performance.timeOrigin);
    else if (m.type === 'stop') engine.stop();
  });
  port.postMessage({ type: 'ready' });
  await engine.done;
  port.unref();
}
