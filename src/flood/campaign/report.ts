// The campaign's part of the summary, printed after flood's own (whose verdict still says whether flood was the
// bound): what the caller would have sent (recipients personalized, partly, blank; calls good and blank) and
// whether its unhealthy-host rule would have tripped. Also the campaign's block of the JSON result.
import { formatDuration, formatInt, formatPercent } from '../units.ts';
import type { CampaignSummary } from './run.ts';
import { FAILURE_STATUSES } from './unhealthy.ts';

function share(n: number, of: number): string {
  return of === 0 ? '0%' : formatPercent(n / of);
}

export function renderCampaign(c: CampaignSummary): string {
  const k = c.counts;
  const recipients = k.personalized + k.partial + k.blank;
  const calls = k.goodCalls + k.blankCalls;
  const lines = [
    `  Campaign      ${formatInt(c.recipients)} recipients · ${formatInt(c.perMinute)} per minute, each minute's quota released over ${formatDuration(c.burstMs)} · ` +
      `${c.calls.min === c.calls.max ? c.calls.min : `${c.calls.min}–${c.calls.max}`} identical calls each · timeout ${formatDuration(c.timeoutMs)} · ` +
      `up to ${formatInt(c.maxConnections)} connections · seed ${c.seed}`,
    `  Recipients    ${formatInt(k.personalized)} personalized (${share(k.personalized, recipients)}) · ${formatInt(k.partial)} partly (${share(k.partial, recipients)}) · ` +
      `${formatInt(k.blank)} blank (${share(k.blank, recipients)})${c.unfinished + c.unreleased > 0 ? ` · ${formatInt(c.unfinished)} unfinished, ${formatInt(c.unreleased)} never released (stopped)` : ''}`,
    `  Calls         ${formatInt(k.goodCalls)} good (2xx with a body within the timeout, ${share(k.goodCalls, calls)}) · ${formatInt(k.blankCalls)} blank`,
  ];
  const u = c.unhealthy;
  const w = u.firstTrip ?? u.worst;
  const where = w === null ? 'no calls'
    : `${u.firstTrip ? 'first tripping' : 'worst'} ${w.seconds} s window from ${w.fromSecond} s: ${formatInt(w.failures)} failures of ${formatInt(w.calls)} calls (${share(w.failures, w.calls)})`;
  lines.push(
    `  Caller        unhealthy-host rule (over ${formatInt(u.rule.failuresOver)} failures and over ${formatPercent(u.rule.shareOver)} of calls in ${u.rule.windowSeconds} s; ` +
      `${FAILURE_STATUSES.join(', ')}, timeouts, connection errors): ${u.tripped ? 'WOULD HAVE TRIPPED' : 'would not have tripped'} (${where})`,
  );
  return `${lines.join('\n')}\n`;
}

/** The `campaign` block of the JSON result. */
export function campaignToJson(c: CampaignSummary): Record<string, unknown> {
  const k = c.counts;
  const recipients = k.personalized + k.partial + k.blank;
  return {
    recipients: c.recipients,
    perMinute: c.perMinute,
    burstMs: c.burstMs,
    calls: c.calls,
    timeoutMs: c.timeoutMs,
    maxConnections: c.maxConnections,
    seed: c.seed,
    counts: { ...k, unfinished: c.unfinished, unreleased: c.unreleased },
    personalizedShare: recipients === 0 ? 0 : k.personalized / recipients,
    perSecond: c.perSecond,
    unhealthy: c.unhealthy,
  };
}
