// The lab's scenarios: the reference posts' progression, reproduced on one machine. Each row is one
// `floodgate serve` configuration driven by the same `floodgate flood` load.

export interface LabScenario {
  /** Short id for --only. */
  readonly id: string;
  readonly label: string;
  /** Extra `floodgate serve` flags. */
  readonly serve: readonly string[];
  /** Extra `floodgate flood` flags for the measured run (the warm-up always uses keep-alive). */
  readonly flood: readonly string[];
  readonly https: boolean;
  /** Worker processes; 1 keeps the server on its one pinned core. */
  readonly workers: number;
  /** Warm every id into the memory tier before measuring. */
  readonly warm: boolean;
  /** What the row needs: a Redis URL. */
  readonly needsRedis: boolean;
}

export function labScenarios(opts: { cores: number; redis: boolean }): LabScenario[] {
  const rows: LabScenario[] = [
    { id: 'store', label: 'store only (caches off)', serve: ['--cache-bytes', '0'], flood: [], https: false, workers: 1, warm: false, needsRedis: false },
    { id: 'redis', label: 'Redis tier (memory off)', serve: ['--cache-bytes', '0'], flood: [], https: false, workers: 1, warm: true, needsRedis: true },
    { id: 'memory', label: 'memory tier', serve: [], flood: [], https: false, workers: 1, warm: true, needsRedis: false },
    { id: 'https', label: 'memory tier, HTTPS keep-alive', serve: ['--tls-self-signed'], flood: ['--insecure'], https: true, workers: 1, warm: true, needsRedis: false },
    { id: 'https-new', label: 'memory tier, HTTPS new connection per request', serve: ['--tls-self-signed'], flood: ['--insecure', '--new-connection'], https: true, workers: 1, warm: true, needsRedis: false },
  ];
  if (opts.cores > 1) {
    rows.push({ id: 'workers', label: `memory tier, ${opts.cores} workers (unpinned, shares cores with flood)`, serve: [], flood: [], https: false, workers: opts.cores, warm: true, needsRedis: false });
  }
  return rows.filter((r) => !r.needsRedis || opts.redis);
}
