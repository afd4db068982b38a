// The invalidation bus: how a committed change reaches every other instance and worker. Three implementations:
// Redis pub/sub (redis-bus.ts), the cluster IPC channel between workers on the embedded store (ipc-bus.ts),
// and none (one process alone).
import type { Change } from '../content/record.ts';

/** Carries changes between instances (Redis pub/sub; IPC between cluster workers on the embedded default). */
export interface InvalidationBus {
  publish(change: Change): Promise<void>;
  /** Registers the handler for changes published by any instance, including this one. */
  subscribe(handler: (change: Change) => void): void;
  /**
   * Optional: registers a listener called when the bus lost its subscription and has it back. Changes published
   * in between were not delivered (Redis pub/sub does not replay), so whatever the listener caches may be stale:
   * drop or revalidate it.
   */
  onResync?(listener: () => void): void;
  close(): Promise<void>;
}
