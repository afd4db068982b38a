// A lower bound on PostgreSQL's clock, in terms of this process's monotonic clock, so a write can carry its
// deadline in the database's own time and the database itself can refuse it once that has passed (see
// migrations/002-write-deadline.ts). No trust in the two hosts' clocks agreeing: each reading of the server's
// clock_timestamp() (or now()) was taken before the answer arrived here, so `reading - arrival` is at most the
// true offset between the two clocks; the bound uses the largest sample of the current and the previous 30 s
// window (tighter than any one, still a lower bound). A deadline mapped through it comes no later, in the server's time, than
// the moment this process gives up on the call: a write the server checks in time was applied before its caller
// was answered. Slack: the samples' round trip, by which a write is refused a little early, never late. What it
// cannot absorb is the server's wall clock stepping backwards by more than that slack within the window.

/** Samples older than two windows are forgotten once a newer one arrives (server clock steps, drift). */
const WINDOW_MS = 30_000;

export class DbClock {
  #current = -Infinity;
  #previous = -Infinity;
  #since = performance.now();

  /** A reading of the server's clock (epoch ms) whose answer arrived at `arrivedAt` (performance.now()). */
  sample(serverMs: number, arrivedAt = performance.now()): void {
    if (!Number.isFinite(serverMs)) return;
    if (arrivedAt - this.#since >= WINDOW_MS) {
      this.#previous = this.#current;
      this.#current = -Infinity;
      this.#since = arrivedAt;
    }
    this.#current = Math.max(this.#current, serverMs - arrivedAt);
  }

  /**
   * A server time (epoch ms) that the server's clock has certainly reached when this process's clock reads `at`
   * (performance.now() scale). Before any sample: this host's wall clock (the store samples when it opens).
   */
  serverTimeAt(at: number): number {
    const offset = Math.max(this.#current, this.#previous);
    return offset === -Infinity ? Date.now() - performance.now() + at : offset + at;
  }
}
