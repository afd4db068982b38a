// Runs a campaign: one CampaignThread per thread (in this thread for --threads 1, in worker threads otherwise),
// flood's Aggregator for the usual result (so the summary, JSON and the verdict on whether flood was the bound
// are the same as for any run), and the campaign's own totals: recipients personalized / partly / blank, and the
// caller's failures per second for the unhealthy-host rule.
import { hostname } from 'node:os';
import { performance } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';
import { Aggregator } from '../aggregate.ts';
import { prepare, scenarioOf, type Prepared } from '../engine.ts';
import type { FloodConfig } from '../options.ts';
import type { FloodResult } from '../result.ts';
import { Schedule } from '../schedule.ts';
import { addRecipientCounts, emptyRecipientCounts, type RecipientCounts } from './book.ts';
import { BurstSchedule } from './burst.ts';
import type { CampaignConfig } from './options.ts';
import { CampaignThread, type CampaignPlan, type CampaignReport } from './thread.ts';
import { judgeUnhealthy, type CallBucket, type UnhealthyVerdict } from './unhealthy.ts';

export interface CampaignSummary {
  readonly recipients: number;
  readonly perMinute: number;
  readonly burstMs: number;
  readonly calls: { readonly min: number; readonly max: number };
  readonly timeoutMs: number;
  readonly maxConnections: number;
  readonly seed: number;
  readonly counts: RecipientCounts;
  /** Recipients whose calls had not all ended, and recipients never released (both only after a stop). */
  readonly unfinished: number;
  readonly unreleased: number;
  /** Calls ended and caller-counted failures, per second of the run. */
  readonly perSecond: readonly CallBucket[];
  readonly unhealthy: UnhealthyVerdict;
}

export interface CampaignResult {
  readonly result: FloodResult;
  readonly campaign: CampaignSummary;
}

/** The campaign as flood's own config: the open model, the burst schedule as rate stages, the cap as -c. */
export function floodConfigOf(c: CampaignConfig): FloodConfig {
  const schedule = new BurstSchedule(c.recipients, c.perMinute, c.burstMs);
  const stages = schedule.stages((c.calls.min + c.calls.max) / 2, c.timeoutMs);
  return Object.freeze({
    name: c.name ?? `campaign: ${c.recipients} recipients`,
    url: c.url,
    method: c.method,
    headers: c.headers,
    body: null,
    model: 'open' as const,
    connections: c.maxConnections,
    threads: c.threads,
    stages,
    durationMs: null,
    requests: null,
    timeoutMs: c.timeoutMs,
    thinkMs: null,
    newConnection: false,
    insecure: c.insecure,
    ok: '200-299',
    okTable: c.okTable,
    bail: null,
  });
}

interface Handle {
  start(epoch: number): void;
  stop(): void;
  close(): Promise<void>;
}

export class CampaignRun {
  readonly done: Promise<CampaignResult>;
  readonly #handles: Handle[] = [];
  #stopped = false;

  constructor(config: CampaignConfig, prepared: Prepared, onSecond?: (second: number, counts: RecipientCounts) => void) {
    this.done = this.#run(config, prepared, onSecond);
  }

  stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    for (const h of this.#handles) h.stop();
  }

  async #run(config: CampaignConfig, prepared: Prepared, onSecond?: (second: number, counts: RecipientCounts) => void): Promise<CampaignResult> {
    const flood = prepared.config;
    const aggregator = new Aggregator(config.threads, true, new Schedule(flood.stages));
    const totals = emptyRecipientCounts();
    const buckets: { calls: number; failures: number }[] = [];
    let unfinished = 0;
    let unreleased = 0;
    let finished!: () => void;
    let failed!: (err: Error) => void;
    const allFinal = new Promise<void>((resolve, reject) => {
      finished = resolve;
      failed = reject;
    });
    const onReport = (r: CampaignReport): void => {
      const s = r.flood.second;
      while (buckets.length <= s) buckets.push({ calls: 0, failures: 0 });
      const b = buckets[s] as { calls: number; failures: number };
      b.calls += r.campaign.calls;
      b.failures += r.campaign.failures;
      addRecipientCounts(totals, r.campaign.counts);
      unfinished += r.campaign.unfinished;
      unreleased += r.campaign.unreleased;
      for (const entry of aggregator.add(r.flood)) onSecond?.(entry.second, totals);
      if (aggregator.allFinal) finished();
    };
    for (let t = 0; t < config.threads; t++) {
      const plan: CampaignPlan = {
        thread: t,
        threads: config.threads,
        endpoint: prepared.endpoint,
        request: prepared.request,
        recipients: config.recipients,
        perMinute: config.perMinute,
        burstMs: config.burstMs,
        calls: config.calls,
        timeoutMs: config.timeoutMs,
        connections: Math.max(1, Math.ceil(config.maxConnections / config.threads)),
        seed: config.seed,
        ok: config.okTable,
      };
      this.#handles.push(config.threads === 1 ? inProcess(plan, onReport) : await inWorker(plan, onReport, failed));
    }
    const startEpoch = performance.timeOrigin + performance.now() + (config.threads === 1 ? 1 : 25);
    for (const h of this.#handles) h.start(startEpoch);
    if (this.#stopped) for (const h of this.#handles) h.stop();
    try {
      await allFinal;
    } finally {
      await Promise.all(this.#handles.map((h) => h.close()));
    }
    const run = {
      host: hostname(), startedAt: Math.round(startEpoch), durationMs: 0, threads: config.threads,
      connections: config.maxConnections, url: prepared.target.url,
    };
    const stopped = this.#stopped ? { reason: 'interrupt' as const, second: buckets.length, detail: 'stopped by the user' } : null;
    const result = aggregator.finish(scenarioOf(flood, prepared.target, prepared.request), run, stopped);
    return {
      result,
      campaign: {
        recipients: config.recipients, perMinute: config.perMinute, burstMs: config.burstMs, calls: config.calls,
        timeoutMs: config.timeoutMs, maxConnections: config.maxConnections, seed: config.seed,
        counts: totals, unfinished, unreleased, perSecond: buckets, unhealthy: judgeUnhealthy(buckets),
      },
    };
  }
}

/** Prepares (templates, DNS) and starts a campaign. */
export async function startCampaign(config: CampaignConfig, onSecond?: (second: number, counts: RecipientCounts) => void): Promise<CampaignRun> {
  return new CampaignRun(config, await prepare(floodConfigOf(config)), onSecond);
}

function inProcess(plan: CampaignPlan, onReport: (r: CampaignReport) => void): Handle {
  const engine = new CampaignThread(plan, onReport);
  return {
    start: (epoch) => engine.start(epoch - performance.timeOrigin),
    stop: () => engine.stop(),
    close: () => engine.done,
  };
}

async function inWorker(plan: CampaignPlan, onReport: (r: CampaignReport) => void, failed: (err: Error) => void): Promise<Handle> {
  const worker = new Worker(new URL('./worker.ts', import.meta.url), { workerData: { plan } });
  let final = false;
  await new Promise<void>((resolve, reject) => {
    worker.once('message', (m: { type: string }) => (m.type === 'ready' ? resolve() : reject(new Error(`worker said ${m.type}`))));
    worker.once('error', reject);
  });
  worker.on('message', (m: { type: string; report?: CampaignReport }) => {
    if (m.type === 'report' && m.report) {
      if (m.report.flood.final) final = true;
      onReport(m.report);
    }
  });
  worker.on('error', (err) => failed(err));
  worker.on('exit', (code) => {
    if (!final) failed(new Error(`flood campaign worker thread ${plan.thread} exited (code ${code}) before the end of the run`));
  });
  return {
    start: (epoch) => worker.postMessage({ type: 'start', epoch }),
    stop: () => worker.postMessage({ type: 'stop' }),
    close: async () => {
      await worker.terminate();
    },
  };
}
