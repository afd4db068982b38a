// The live progress line, on a terminal only: elapsed, this second's throughput, p99 so far, errors so far.
// It is redrawn in place once per second and erased before the summary is printed.
import type { Counts, SecondEntry } from '../result.ts';
import { tally } from '../result.ts';
import { formatDuration, formatInt, formatMs, formatPercent } from '../units.ts';

export interface ProgressStream {
  readonly isTTY?: boolean | undefined;
  write(text: string): boolean;
}

export class ProgressLine {
  readonly #stream: ProgressStream;
  readonly #totalMs: number | null;
  readonly #label: string;
  #shown = false;

  constructor(stream: ProgressStream, totalMs: number | null, label = '') {
    this.#stream = stream;
    this.#totalMs = totalMs;
    this.#label = label;
  }

  /** Only a terminal gets a progress line; pipes and CI logs get nothing until the summary. */
  get enabled(): boolean {
    return this.#stream.isTTY === true;
  }

  update(entry: SecondEntry, live: { readonly counts: Counts; readonly p99: number; readonly elapsedMs: number }): void {
    if (!this.enabled) return;
    const t = tally(live.counts);
    const s = tally(entry.counts);
    const rps = s.hits / (entry.durationMs / 1000);
    const parts = [
      `${this.#label}${formatDuration(live.elapsedMs)}${this.#totalMs !== null ? ` / ${formatDuration(this.#totalMs)}` : ''}`,
      `${formatInt(rps)} rps`,
      `p99 ${formatMs(live.p99)}`,
      `errors ${formatInt(t.errors + t.timeouts)} (${formatPercent(t.errorRate)})`,
    ];
    if (entry.targetRps !== null) parts.push(`target ${formatInt(entry.targetRps)} rps`);
    this.#stream.write(`\r\x1b[2K  ${parts.join('   ')}`);
    this.#shown = true;
  }

  notice(text: string): void {
    if (this.#shown) this.clear();
    this.#stream.write(`${text}\n`);
  }

  clear(): void {
    if (!this.#shown) return;
    this.#stream.write('\r\x1b[2K');
    this.#shown = false;
  }
}
