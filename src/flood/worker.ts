// Entry point of a worker thread (--threads > 1): runs one ThreadEngine and forwards its once-a-second reports.
import { parentPort, workerData } from 'node:worker_threads';
import { performance } from 'node:perf_hooks';
import { ThreadEngine, type ThreadPlan } from './thread.ts';

const port = parentPort;
if (port === null) throw new Error('flood/worker.ts runs only as a worker thread');
const { plan } = workerData as { plan: ThreadPlan };
const engine = new ThreadEngine(plan, (report) => port.postMessage({ type: 'report', report }));
port.on('message', (m: { type: string; epoch?: number }) => {
  if (m.type === 'start' && m.epoch !== undefined) engine.start(m.epoch - performance.timeOrigin);
  else if (m.type === 'stop') engine.stop();
});
port.postMessage({ type: 'ready' });
await engine.done;
port.unref();
