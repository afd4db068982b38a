// Entry point of a campaign worker thread (--campaign --threads > 1): runs one CampaignThread and forwards its
// once-a-second reports, as ../worker.ts does for the other models.
import { runOnPort } from '../thread-port.ts';
import { CampaignThread, type CampaignPlan } from './thread.ts';

await runOnPort('flood/campaign/worker.ts', (plan: CampaignPlan, sink: ConstructorParameters<typeof CampaignThread>[1]) => new CampaignThread(plan, sink));
