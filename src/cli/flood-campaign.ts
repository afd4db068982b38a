// `floodgate flood URL --campaign …`: the caller-shaped load (src/flood/campaign). Parses the campaign's flags,
// refuses the other models' ones, runs it with Ctrl-C handling, prints flood's summary (verdict included) and
// the campaign's block, and writes the JSON result with a `campaign` field added.
import { readFile, writeFile } from 'node:fs/promises';
import { resultToJson } from '../flood/json.ts';
import { resolveCampaign, type RawCampaignOptions } from '../flood/campaign/options.ts';
import { campaignToJson, renderCampaign } from '../flood/campaign/report.ts';
import { startCampaign } from '../flood/campaign/run.ts';
import { renderSummary } from '../flood/report/terminal.ts';
import { evaluateThresholds, type Threshold } from '../flood/threshold.ts';
import { UsageError } from '../flood/usage.ts';
import { verdict } from '../flood/verdict.ts';

/** Flags of the other load models, which a campaign sets itself. */
const NOT_WITH_CAMPAIGN = ['connections', 'duration', 'requests', 'think', 'rate', 'stage', 'body', 'new-connection', 'ok', 'bail', 'matrix', 'html'] as const;
/** Flags that only a campaign reads. */
export const CAMPAIGN_ONLY = ['recipients', 'per-minute', 'burst', 'calls', 'max-connections', 'seed'] as const;

export const CAMPAIGN_OPTIONS = {
  campaign: { type: 'boolean' },
  recipients: { type: 'string' },
  'per-minute': { type: 'string' },
  burst: { type: 'string' },
  calls: { type: 'string' },
  'max-connections': { type: 'string' },
  seed: { type: 'string' },
} as const;

export const CAMPAIGN_HELP = `
Campaign (a caller-shaped load, see docs/flood.md "Campaign model"):
      --campaign           N recipients released per minute in bursts, each rendered with 2–3 identical calls
      --recipients N       the audience size (required with --campaign)
      --per-minute R       recipients per minute, the platform's rate limit          (default all in one minute)
      --burst D            each minute's quota is released over D                    (default 10s)
      --calls N[-M]        identical calls per recipient, uniform in the range       (default 2-3)
      --max-connections N  connections opened on demand up to N                      (default 2000)
      --seed N             seed of the random ids ({{int}}, {{pick}}) and call counts (default 1)
                           The timeout (-t) defaults to 2s. The summary adds recipients personalized /
                           partly / blank and whether the caller's unhealthy-host rule would have tripped.
`;

type Values = Record<string, string | boolean | string[] | undefined>;

export async function runCampaignCommand(values: Values, url: string | undefined, thresholds: readonly Threshold[]): Promise<number> {
  for (const name of NOT_WITH_CAMPAIGN) {
    if (values[name] !== undefined) throw new UsageError(`--${name} does not apply to --campaign (it sets its own load; see --help)`);
  }
  const str = (name: string): string | undefined => (typeof values[name] === 'string' ? values[name] : undefined);
  if (values.X !== undefined && values.method !== undefined) throw new UsageError('-X and --method say the same thing; give one');
  const raw: RawCampaignOptions = {
    url, name: str('name'), method: str('method') ?? str('X'), header: values.header as string[] | undefined,
    timeout: str('timeout'), threads: str('threads'), insecure: values.insecure === true,
    recipients: str('recipients'), 'per-minute': str('per-minute'), burst: str('burst'), calls: str('calls'),
    'max-connections': str('max-connections'), seed: str('seed'),
  };
  const config = resolveCampaign(raw);
  const json = str('json');
  const out = json === '-' ? process.stderr : process.stdout;
  const run = await startCampaign(config);
  let interrupts = 0;
  const onSigint = (): void => {
    interrupts++;
    if (interrupts > 1) process.exit(130);
    process.stderr.write('floodgate flood: stopping; waiting for the calls in flight (Ctrl-C again to quit at once)\n');
    run.stop();
  };
  process.on('SIGINT', onSigint);
  let done;
  try {
    done = await run.done;
  } finally {
    process.off('SIGINT', onSigint);
  }
  const { result, campaign } = done;
  const outcomes = evaluateThresholds(thresholds, result);
  out.write(renderSummary(result, outcomes));
  out.write(renderCampaign(campaign));
  if (json !== undefined) {
    const pkg = JSON.parse(await readFile(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
    const doc = resultToJson(result, { name: 'floodgate flood', version: pkg.version, node: process.version }, outcomes) as unknown as Record<string, unknown>;
    // the campaign block goes before the verdict, which stays the last field
    const { verdict: v, ...rest } = doc;
    const text = `${JSON.stringify({ ...rest, campaign: campaignToJson(campaign), verdict: v }, null, 2)}\n`;
    if (json === '-') process.stdout.write(text);
    else await writeFile(json, text);
  }
  let code = 0;
  for (const t of outcomes.filter((x) => !x.passed)) {
    out.write(`THRESHOLD BREACHED: ${t.threshold} (measured ${t.shown})\n`);
    code = 1;
  }
  if (values.strict === true && !verdict(result).trustworthy) {
    out.write('FAILED (--strict): the load generator was the bottleneck; the figures cannot be trusted\n');
    code = 1;
  }
  if (result.stopped !== null && code === 0) code = 130;
  return code;
}
