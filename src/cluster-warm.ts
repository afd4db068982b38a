// The primary's side of a warm-up (bus/ipc-warm.ts): a worker hands over the records it read from the store; the
// primary passes them to every other connected worker, waits for each to acknowledge (they are then in its memory
// tier), and tells the first worker how many did. A worker that stays silent past PEER_WAIT_MS is left out of the
// count, so one stuck worker cannot hold the warm-up forever.
import type { Worker } from 'node:cluster';
import { IPC_WARM_DONE, type IpcWarm, type IpcWarmAck, type IpcWarmDone } from './bus/ipc-warm.ts';

const PEER_WAIT_MS = 10_000;

export interface WarmRelay {
  /** A worker shared a batch: relay it to `others`. */
  share(from: Worker, m: IpcWarm, others: readonly Worker[]): void;
  /** A worker acknowledged a relayed batch. */
  ack(m: IpcWarmAck): void;
}

export function warmRelay(): WarmRelay {
  let next = 0;
  const pending = new Map<number, () => void>();
  return {
    share(from, m, others) {
      const reply = (answered: number): void => {
        if (from.isConnected()) from.send({ t: IPC_WARM_DONE, id: m.id, workers: others.length, answered } satisfies IpcWarmDone, undefined, () => undefined);
      };
      if (others.length === 0) {
        reply(0);
        return;
      }
      let answered = 0;
      let open = others.length;
      const ids: number[] = [];
      const done = (): void => {
        clearTimeout(timer);
        for (const id of ids) pending.delete(id);
        reply(answered);
      };
      const timer = setTimeout(done, PEER_WAIT_MS);
      for (const w of others) {
        const id = next++;
        ids.push(id);
        pending.set(id, () => {
          pending.delete(id);
          answered++;
          if (--open === 0) done();
        });
        w.send({ ...m, id } satisfies IpcWarm, undefined, (err: Error | null) => {
          if (err && pending.delete(id) && --open === 0) done();
        });
      }
    },
    ack(m) {
      pending.get(m.id)?.();
    },
  };
}
