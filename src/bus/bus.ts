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
   * Optional: registers a listener called when the bus lost changes: its subscription is back after a gap (Redis
   * pub/sub does not replay), or a peer died with changes it had not announced. Whatever the listener caches may
   * be stale: drop or revalidate it. `since`, when given, is a store version: only changes after it were lost.
   */
  onResync?(listener: (since?: number) => void): void;
  /** Optional: false while the bus may be missing changes (its subscription is down); absent means always listening. */
  readonly subscribed?: boolean;
  close(): Promise<void>;
}
