// Invalidation between the workers of one `floodgate serve` on the embedded default (no REDIS_URL): a worker
// sends its changes to the primary over the cluster IPC channel and the primary relays them to every other
// worker (cluster.ts). The changes published in one synchronous run (a bulk batch: putMany publishes each of its
// changes in one go) leave as soon as that run ends, in a microtask, as a few messages of at most
// MAX_CHANGES_PER_MESSAGE: a bulk import that never yields to the event loop still announces each batch as it
// commits, and thousands of records cost a few messages, not thousands. Delivery is at most once, like Redis
// pub/sub; versions make a late or repeated change harmless. What a worker committed and could not announce
// before it died, the primary has the others catch up on from the store (IPC_CATCH_UP, onResync(since)).
import type { Change } from '../content/record.ts';
import type { InvalidationBus } from './bus.ts';

export const IPC_INVALIDATE = 'floodgate:invalidate';
/** Primary → workers: a worker died; changes after `since` may not have been announced. */
export const IPC_CATCH_UP = 'floodgate:catch-up';
/** Changes per IPC message: a message is written whole (or queued) by one send; keep it well under a pipe buffer. */
export const MAX_CHANGES_PER_MESSAGE = 500;

export interface IpcInvalidation {
  readonly t: typeof IPC_INVALIDATE;
  readonly changes: readonly Change[];
}

export function isIpcInvalidation(m: unknown): m is IpcInvalidation {
  return typeof m === 'object' && m !== null && (m as { t?: unknown }).t === IPC_INVALIDATE && Array.isArray((m as { changes?: unknown }).changes);
}

export interface IpcCatchUp {
  readonly t: typeof IPC_CATCH_UP;
  readonly since: number;
}

function isIpcCatchUp(m: unknown): m is IpcCatchUp {
  return typeof m === 'object' && m !== null && (m as { t?: unknown }).t === IPC_CATCH_UP && Number.isSafeInteger((m as { since?: unknown }).since);
}

/** The side of an IPC channel the bus needs: a worker's `process`, or a fake in tests. */
export interface IpcChannel {
  send?(message: unknown, callback?: (err: Error | null) => void): boolean;
  readonly connected?: boolean;
  on(event: 'message', listener: (message: unknown) => void): unknown;
  off(event: 'message', listener: (message: unknown) => void): unknown;
}

export function openIpcBus(channel: IpcChannel = process): InvalidationBus {
  const handlers: ((change: Change) => void)[] = [];
  const resyncListeners: ((since?: number) => void)[] = [];
  let pending: Change[] = [];
  let flushing = false;
  const deliver = (change: Change): void => {
    for (const h of handlers) {
      try {
        h(change);
      } catch {
        // a throwing handler must not keep the others from hearing of the change
      }
    }
  };
  const flush = (): void => {
    flushing = false;
    const changes = pending;
    pending = [];
    if (channel.connected === false || !channel.send) return;
    for (let i = 0; i < changes.length; i += MAX_CHANGES_PER_MESSAGE) {
      const part = changes.slice(i, i + MAX_CHANGES_PER_MESSAGE);
      channel.send({ t: IPC_INVALIDATE, changes: part } satisfies IpcInvalidation, () => undefined);
    }
  };
  const onMessage = (m: unknown): void => {
    if (isIpcInvalidation(m)) for (const c of m.changes) deliver(c);
    else if (isIpcCatchUp(m)) {
      for (const l of resyncListeners) {
        try {
          l(m.since);
        } catch {
          // one listener's failure must not keep the others from catching up
        }
      }
    }
  };
  channel.on('message', onMessage);
  return {
    async publish(change) {
      deliver(change);
      pending.push(change);
      if (!flushing) {
        flushing = true;
        queueMicrotask(flush);
      }
    },
    subscribe(handler) {
      handlers.push(handler);
    },
    onResync(listener) {
      resyncListeners.push(listener);
    },
    async close() {
      flush();
      channel.off('message', onMessage);
    },
  };
}
