// Entry point of a worker thread (--threads > 1): runs one ThreadEngine and forwards its once-a-second reports.
import { ThreadEngine, type ThreadPlan } from './thread.ts';
import { runOnPort } from './thread-port.ts';

await runOnPort('flood/worker.ts', (plan: ThreadPlan, sink: ConstructorParameters<typeof ThreadEngine>[1]) => new ThreadEngine(plan, sink));
