// Tracks whether a Redis client is worth calling, in O(1) per call: it is not while disconnected, nor after
// FAILURE_THRESHOLD calls in a row failed (a frozen or overloaded server still holds the TCP connection). While
// tripped, a background PING on an unref'd, jittered timer closes the circuit again as soon as Redis answers.
import type { RedisClient } from './redis-connect.ts';

export const FAILURE_THRESHOLD = 3; // consecutive failed calls
export const PROBE_INTERVAL_MS = 250; // ms between PINGs while tripped, jittered ±50 %

export class RedisHealth {
  readonly #client: RedisClient;
  #failures = 0;
  #probe: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(client: RedisClient) {
    this.#client = client;
    // A fresh connection (first connect or reconnect) passed the handshake: give it a clean slate.
    client.on('ready', () => this.success());
  }

  get healthy(): boolean {
    return this.#client.status === 'ready' && this.#failures < FAILURE_THRESHOLD;
  }

  success(): void {
    this.#failures = 0;
  }

  failure(): void {
    this.#failures++;
    if (this.#failures >= FAILURE_THRESHOLD && this.#probe === undefined && !this.#closed) this.#scheduleProbe();
  }

  close(): void {
    this.#closed = true;
    clearTimeout(this.#probe);
    this.#probe = undefined;
  }

  #scheduleProbe(): void {
    const delay = PROBE_INTERVAL_MS * (0.5 + Math.random());
    this.#probe = setTimeout(() => {
      this.#client.ping().then(
        () => {
          this.#probe = undefined;
          this.success();
        },
        () => {
          this.#probe = undefined;
          if (!this.#closed && this.#failures >= FAILURE_THRESHOLD) this.#scheduleProbe();
        },
      );
    }, delay);
    this.#probe.unref();
  }
}
