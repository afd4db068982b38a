// The options of `floodgate flood --campaign`, validated once into a frozen CampaignConfig. A campaign is a
// caller-shaped load: N recipients released per minute in bursts, each rendered with a few identical calls, over
// a connection pool that grows on demand up to a cap. Defaults and their reasons are in docs/flood.md
// ("Campaign model").
import { parseOkStatuses } from '../outcome.ts';
import { parseCount, parseDuration } from '../units.ts';
import { UsageError } from '../usage.ts';
import { MINUTE_MS } from './burst.ts';

export interface RawCampaignOptions {
  url?: string | undefined;
  name?: string | undefined;
  method?: string | undefined;
  header?: string[] | undefined;
  timeout?: string | undefined;
  threads?: string | undefined;
  insecure?: boolean | undefined;
  recipients?: string | undefined;
  'per-minute'?: string | undefined;
  burst?: string | undefined;
  calls?: string | undefined;
  'max-connections'?: string | undefined;
  seed?: string | undefined;
}

export const CAMPAIGN_DEFAULTS = {
  /** Each minute's quota is released over this long (issue 10's observed Braze campaign: one 10-second burst). */
  burstMs: 10_000,
  /** Identical calls per recipient, uniform in the range (Braze renders an email's HTML, text and AMP parts). */
  calls: '2-3',
  /** Braze's Connected Content timeout, as issue 10 states it. */
  timeoutMs: 2_000,
  /** The connection cap of issue 10's measured caller. */
  maxConnections: 2_000,
  seed: 1,
  threads: 1,
} as const;

export interface CampaignConfig {
  readonly name: string | null;
  readonly url: string;
  readonly method: string | undefined;
  readonly headers: readonly string[];
  readonly recipients: number;
  /** Recipients released per minute (the platform's rate limit); the whole audience in one minute by default. */
  readonly perMinute: number;
  readonly burstMs: number;
  readonly calls: { readonly min: number; readonly max: number };
  readonly timeoutMs: number;
  readonly maxConnections: number;
  readonly threads: number;
  readonly seed: number;
  readonly insecure: boolean;
  /** 2xx: what the caller uses; the flood summary counts the rest as errors. */
  readonly okTable: Uint8Array;
}

function parseCalls(text: string): { min: number; max: number } {
  const m = /^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$/.exec(text);
  if (!m) throw new UsageError(`--calls: '${text}' is not N or N-M (calls per recipient), e.g. 2-3`);
  const min = Number(m[1]);
  const max = m[2] === undefined ? min : Number(m[2]);
  if (min < 1 || max > 100 || max < min) throw new UsageError(`--calls: '${text}': give 1 to 100 calls, the lower bound first`);
  return { min, max };
}

export function resolveCampaign(raw: RawCampaignOptions): CampaignConfig {
  const url = raw.url;
  if (url === undefined || url === '') throw new UsageError('no URL given: floodgate flood URL --campaign --recipients N [options]');
  if (raw.recipients === undefined) throw new UsageError('--campaign needs --recipients N (the audience size)');
  const recipients = parseCount(raw.recipients, '--recipients');
  const perMinute = raw['per-minute'] === undefined ? recipients : parseCount(raw['per-minute'], '--per-minute');
  const burstMs = raw.burst === undefined ? CAMPAIGN_DEFAULTS.burstMs : parseDuration(raw.burst, '--burst');
  if (burstMs > MINUTE_MS) throw new UsageError(`--burst: '${raw.burst ?? ''}' is longer than the minute whose quota it releases`);
  const timeoutMs = raw.timeout === undefined ? CAMPAIGN_DEFAULTS.timeoutMs : parseDuration(raw.timeout, '--timeout');
  if (timeoutMs <= 0) throw new UsageError('--timeout must be longer than 0');
  const maxConnections = raw['max-connections'] === undefined ? CAMPAIGN_DEFAULTS.maxConnections : parseCount(raw['max-connections'], '--max-connections');
  const threads = raw.threads === undefined ? CAMPAIGN_DEFAULTS.threads : parseCount(raw.threads, '--threads');
  if (threads > maxConnections) throw new UsageError(`--threads ${threads} is more than --max-connections ${maxConnections}: each thread needs a connection`);
  const seed = raw.seed === undefined ? CAMPAIGN_DEFAULTS.seed : parseCount(raw.seed, '--seed', 0);
  return Object.freeze({
    name: raw.name ?? null,
    url,
    method: raw.method,
    headers: raw.header ?? [],
    recipients,
    perMinute,
    burstMs,
    calls: parseCalls(raw.calls ?? CAMPAIGN_DEFAULTS.calls),
    timeoutMs,
    maxConnections,
    threads,
    seed,
    insecure: raw.insecure ?? false,
    okTable: parseOkStatuses('200-299'),
  });
}

/** A small, fast, seedable generator (mulberry32): the same seed gives the same recipients and call counts. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
