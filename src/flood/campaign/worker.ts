// Entry point of a campaign worker thread (--campaign --threads > 1): runs one CampaignThread and forwards its
// once-a-second reports, as ../worker.ts does for the other models.
import { parentPort, workerData } from 'node:worker_threads';
import { performance } from 'node:perf_hooks';
import { CampaignThread, type CampaignPlan } from './thread.ts';

const port = parentPort;
if (port === null) throw new Error('flood/campaign/worker.ts runs only as a worker thread');
const { plan } = workerData as { plan: CampaignPlan };
const engine = new CampaignThread(plan, (report) => port.postMessage({ type: 'report', report }));
port.on('message', (m: { type: string; epoch?: number }) => {
  if (m.type === 'start' && m.epoch !== undefined) engine.start(m.epoch - performance.timeOrigin);
  else if (m.type === 'stop') engine.stop();
});
port.postMessage({ type: 'ready' });
await engine.done;
port.unref();
