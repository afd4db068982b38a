// The invalidation bus: how a committed change reaches every other instance and worker. Three implementations:
// Redis pub/sub (redis-bus.ts), the cluster IPC channel between workers on the embedded store (ipc-bus.ts),
// and none (one process alone).
import type { Change } from '../content/record.ts';

/**
 * Keys one instance just warmed (`floodgate warm`): it stored them in Redis first, so every other instance loads
 * them from Redis (never from the store). `instance` names the sender: its own workers already have the records.
 */
export interface WarmNotice {
  readonly instance: string;
  readonly collection: string;
  readonly keys: readonly string[];
}

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
  /** Optional (Redis pub/sub): tells every instance which keys were warmed (WarmNotice). */
  announceWarm?(notice: WarmNotice): Promise<void>;
  /** Optional: registers the handler of every instance's warm notices, this one's included. */
  onWarm?(handler: (notice: WarmNotice) => void): void;
  close(): Promise<void>;
}
