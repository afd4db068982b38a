// Invalidation between the workers of one `floodgate serve` on the embedded default (no REDIS_URL): a worker
// sends its changes to the primary over the cluster IPC channel and the primary relays them to every other
// worker (cluster.ts). Changes published in one tick travel as one message, so a bulk import of thousands of
// records costs a few messages, not thousands. Delivery is at most once, like Redis pub/sub; versions make a
// late or repeated change harmless.
import type { Change } from '../content/record.ts';
import type { InvalidationBus } from './bus.ts';

export const IPC_INVALIDATE = 'floodgate:invalidate';

export interface IpcInvalidation {
  readonly t: typeof IPC_INVALIDATE;
  readonly changes: readonly Change[];
}

export function isIpcInvalidation(m: unknown): m is IpcInvalidation {
  return typeof m === 'object' && m !== null && (m as { t?: unknown }).t === IPC_INVALIDATE && Array.isArray((m as { changes?: unknown }).changes);
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
  let pending: Change[] = [];
  let flushing: NodeJS.Immediate | undefined;
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
    flushing = undefined;
    const changes = pending;
    pending = [];
    if (changes.length > 0 && channel.connected !== false && channel.send) {
      channel.send({ t: IPC_INVALIDATE, changes } satisfies IpcInvalidation, () => undefined);
    }
  };
  const onMessage = (m: unknown): void => {
    if (isIpcInvalidation(m)) for (const c of m.changes) deliver(c);
  };
  channel.on('message', onMessage);
  return {
    async publish(change) {
      deliver(change);
      pending.push(change);
      flushing ??= setImmediate(flush);
    },
    subscribe(handler) {
      handlers.push(handler);
    },
    async close() {
      if (flushing) clearImmediate(flushing);
      flush();
      channel.off('message', onMessage);
    },
  };
}
