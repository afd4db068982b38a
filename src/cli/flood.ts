// `floodgate flood`: the command line of the load generator. It parses flags, runs the engine (src/flood), renders
// its events (progress line, summary, JSON, HTML) and turns thresholds, --bail and --strict into the exit code.
import { readFile, writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import type { Command } from './main.ts';
import { CAMPAIGN_HELP, CAMPAIGN_ONLY, CAMPAIGN_OPTIONS, runCampaignCommand } from './flood-campaign.ts';
import { prepare, startFlood } from '../flood/engine.ts';
import { MATRIX_SCHEMA, SCHEMA_VERSION, resultToJson, resultsFromText, type ToolInfo } from '../flood/json.ts';
import { readMatrixFile } from '../flood/matrix.ts';
import { mergeResults, overlapProblem } from '../flood/merge.ts';
import { resolveOptions, DEFAULTS, type FloodConfig, type RawOptions } from '../flood/options.ts';
import { renderHtml, type HtmlEntry } from '../flood/report/html.ts';
import { ProgressLine } from '../flood/report/progress.ts';
import { renderComparison, renderSummary } from '../flood/report/terminal.ts';
import { scenarioLabel, summarize, type FloodResult } from '../flood/result.ts';
import { evaluateThresholds, parseThreshold, type Threshold, type ThresholdOutcome } from '../flood/threshold.ts';
import { formatInt, formatMs, formatPercent } from '../flood/units.ts';
import { isUsageError, UsageError } from '../flood/usage.ts';
import { verdict } from '../flood/verdict.ts';
import { editDistance } from '../common/edit-distance.ts';

const HELP = `floodgate flood: load-test an HTTP endpoint and say whether the result can be trusted.

Usage:
  floodgate flood URL [options]             one run
  floodgate flood --matrix FILE [options]   several scenarios in sequence, one comparison table
  floodgate flood merge FILE.json… [--json FILE] [--html FILE] [--threshold EXPR]… [--strict]
                                            combine runs made on several machines into one exact report

Templates, expanded for every request in the URL's path and query, in header values and in the body:
  {{int MIN MAX}}          a random whole number from MIN to MAX (both included)
  {{pick A B "C D"}}       one of the values, at random
  {{seq [START] [STEP]}}   START, START+STEP, … (default 1 1), unique across threads
  {{csv FILE COLUMN}}      COLUMN (a header name or 1-based position) of the next row of FILE, cycling;
                           every {{csv}} of one file reads the same row within a request
  {{uuid}}                 a random UUID

Load model: closed (a fixed number of users) unless --rate or --stage makes it open (a fixed arrival rate).
  -c, --connections N      closed: N virtual users, one connection each            (default ${DEFAULTS.closedConnections})
                           open: the most connections the pool may open            (default ${DEFAULTS.openConnections})
  -d, --duration D         how long to run: 30s, 5m, 1m30s                         (default 10s, unless
                           --requests or --stage bounds the run)
  -n, --requests N         stop after N requests (with --duration, whichever ends first)
      --think D[-D2]       closed model: pause after each response, fixed or uniform in a range (default none)
  -r, --rate R             open model: R requests per second, e.g. 500 or 5k; each request is timed from
                           when it should have left, so a stalled server shows in the percentiles
      --stage D:R[-R2]     open model, repeatable: a stage of the rate profile; 10s:0-5000 ramps from 0 to
                           5,000 rps over 10 s, 60s:5000 holds 5,000 rps for a minute

Request:
  -m, -X, --method M       HTTP method                                   (default GET, or POST with --body)
  -H, --header 'N: V'      add a header, repeatable (templates allowed in the value)
  -b, --body TEXT|@FILE    request body (templates allowed); @FILE reads it from FILE
  -t, --timeout D          per request, connect and TLS handshake included             (default 2s)
      --new-connection     a fresh connection (and TLS handshake) per request          (default keep-alive)
  -k, --insecure           accept self-signed or otherwise invalid TLS certificates
      --ok CODES           status codes that count as success, e.g. 200-299,404        (default ${DEFAULTS.ok})

Engine:
      --threads N          worker threads generating the load                         (default ${DEFAULTS.threads})
      --bail RATE          stop the run when one second's error rate exceeds RATE, e.g. 50%  (default never)

${CAMPAIGN_HELP.trim()}

Results:
      --name TEXT          a name for the run in reports
      --json FILE          write the result as JSON (versioned schema, with the encoded histograms, see
                           docs/flood.md); '-' writes it to stdout and the summary to stderr
      --html FILE          write a self-contained HTML report (charts over time; opens without a network)
      --threshold EXPR     fail (exit 1) unless EXPR holds, repeatable:
                           p50<10ms  p99<50ms  p99.9<=200ms  max<1s  mean<20ms      (latency of successes)
                           errors<0.1%  errors<=10  (failed requests, timeouts included)
                           timeouts<1%  timeouts<1 (none at all)  rps>=1000 (finished requests/s)
      --strict             also fail (exit 1) when the verdict says flood itself was the bottleneck
      --matrix FILE        run every scenario of a JSON matrix file (format in docs/flood.md)
  -h, --help               this help

While it runs, a terminal shows one progress line (elapsed, rps, p99 so far, errors); pipes get only the summary.
The summary ends with a verdict: TRUSTWORTHY, or GENERATOR-BOUND from the second flood ran out of CPU or its
event loop fell behind (then the figures describe flood as much as the server).

Exit codes: 0 done · 1 a threshold breached, --bail stopped the run, no request succeeded, or --strict and
            generator-bound
            2 usage error (bad flag, bad threshold, unreadable file) · 130 interrupted (Ctrl-C)

Examples:
  floodgate flood 'http://127.0.0.1:8080/data?user_id={{int 1 100000}}' -c 100 -d 30s
  floodgate flood http://127.0.0.1:8080/ --stage 10s:0-5000 --stage 60s:5000 --threshold 'p99<50ms'
  floodgate flood 'http://127.0.0.1:8080/data?user_id={{int 1 100000}}' -c 50 --think 200ms-2s -d 1h --bail 50%
  floodgate flood https://localhost:8443/ -k --new-connection -c 20 -d 10s
  floodgate flood 'http://127.0.0.1:8080/v1/content/users/{{csv users.csv id}}' -H 'accept: application/json' -n 10000
  floodgate flood -X POST http://127.0.0.1:8080/echo -b '{"id": {{seq}}, "tag": "{{pick red green}}"}'
  floodgate flood http://10.0.0.5:8080/ -c 200 -d 60s --json a.json    # on each load machine, then:
  floodgate flood merge a.json b.json c.json --html report.html --threshold 'p99<50ms'
  floodgate flood --matrix scenarios.json --json matrix.json --html matrix.html
`;

const MERGE_HELP = `floodgate flood merge: combine runs made on several machines (or several runs) into one exact report.

Usage: floodgate flood merge FILE.json… [options]

Counts add, latency histograms add bucket by bucket (the merged p99 is the p99 of every request), timelines add
second by second, aligned on each run's start. The runs are meant to have run at the same time, against one
target: when their time spans do not overlap, merge refuses (exit 2), because the merged connections and
rates would describe load that never ran at once; --force merges them anyway, with a warning.

Options:
      --json FILE          write the merged result as JSON ('-' = stdout, the summary then goes to stderr)
      --html FILE          write a self-contained HTML report
      --threshold EXPR     fail (exit 1) unless EXPR holds, repeatable (see floodgate flood --help)
      --strict             also fail (exit 1) when the verdict says a generator was the bottleneck
      --force              merge runs whose time spans do not overlap
  -h, --help               this help

Exit codes: 0 done · 1 a threshold breached, nothing succeeded, or --strict and generator-bound · 2 usage error

Example:
  floodgate flood merge a.json b.json c.json --html report.html --threshold 'p99<50ms'
`;

const OPTIONS = {
  connections: { type: 'string', short: 'c' },
  duration: { type: 'string', short: 'd' },
  requests: { type: 'string', short: 'n' },
  think: { type: 'string' },
  rate: { type: 'string', short: 'r' },
  stage: { type: 'string', multiple: true },
  method: { type: 'string', short: 'm' },
  X: { type: 'string', short: 'X' },
  header: { type: 'string', short: 'H', multiple: true },
  body: { type: 'string', short: 'b' },
  timeout: { type: 'string', short: 't' },
  'new-connection': { type: 'boolean' },
  insecure: { type: 'boolean', short: 'k' },
  ok: { type: 'string' },
  threads: { type: 'string' },
  bail: { type: 'string' },
  name: { type: 'string' },
  json: { type: 'string' },
  html: { type: 'string' },
  threshold: { type: 'string', multiple: true },
  strict: { type: 'boolean' },
  matrix: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
  ...CAMPAIGN_OPTIONS,
} as const;

const MERGE_OPTIONS = {
  json: OPTIONS.json,
  html: OPTIONS.html,
  threshold: OPTIONS.threshold,
  strict: OPTIONS.strict,
  force: { type: 'boolean' },
  help: OPTIONS.help,
} as const;

type Values = ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true }>>['values'];

export const command: Command = {
  summary: 'load-test an HTTP endpoint and say whether the result can be trusted',
  async run(argv: string[]): Promise<number> {
    try {
      if (argv[0] === 'merge') return await runMerge(argv.slice(1));
      const { values, positionals } = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
      if (values.help) {
        process.stdout.write(HELP);
        return 0;
      }
      const thresholds = (values.threshold ?? []).map(parseThreshold);
      if (values.campaign) {
        if (positionals.length > 1) throw new UsageError(`one URL per run (got ${positionals.length}: ${positionals.join(' ')}); quote URLs that contain & or spaces`);
        return await runCampaignCommand(values, positionals[0], thresholds);
      }
      for (const name of CAMPAIGN_ONLY) {
        if (values[name] !== undefined) throw new UsageError(`--${name} belongs to --campaign; add --campaign or drop it`);
      }
      if (values.matrix !== undefined) {
        if (positionals.length > 0) throw new UsageError('--matrix takes its URLs from the file; drop the URL argument');
        return await runMatrix(values.matrix, values, thresholds);
      }
      if (positionals.length === 0) throw new UsageError('no URL given');
      if (positionals.length > 1) throw new UsageError(`one URL per run (got ${positionals.length}: ${positionals.join(' ')}); quote URLs that contain & or spaces`);
      const config = resolveOptions({ ...rawOf(values), url: positionals[0] });
      const toStdout = values.json === '-';
      const out = toStdout ? process.stderr : process.stdout;
      const result = await runOne(config);
      const outcomes = evaluateThresholds(thresholds, result);
      out.write(renderSummary(result, outcomes));
      await writeOutputs([{ result, thresholds: outcomes }], values.json, values.html, false);
      return exitCode([{ result, thresholds: outcomes }], values.strict ?? false, out);
    } catch (err) {
      return usageFailure(err);
    }
  },
};

function rawOf(v: Values): RawOptions {
  if (v.X !== undefined && v.method !== undefined) throw new UsageError('-X and --method say the same thing; give one');
  return {
    name: v.name, method: v.method ?? v.X, header: v.header, body: v.body, connections: v.connections, threads: v.threads,
    duration: v.duration, requests: v.requests, rate: v.rate, stage: v.stage, think: v.think, timeout: v.timeout,
    'new-connection': v['new-connection'], insecure: v.insecure, ok: v.ok, bail: v.bail,
  };
}

function usageFailure(err: unknown): number {
  const code = (err as { code?: unknown }).code;
  if (isUsageError(err) || (typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS'))) {
    let message = (err as Error).message;
    const unknown = /Unknown option '(-{1,2}[^']+)'/.exec(message);
    if (unknown?.[1]) {
      const hint = closest(unknown[1].replace(/^-+/, ''), Object.keys(OPTIONS));
      message = `unknown option '${unknown[1]}'${hint ? ` (did you mean --${hint}?)` : ''}`;
    }
    process.stderr.write(`floodgate flood: ${message}\nRun 'floodgate flood --help' for the options and examples.\n`);
    return 2;
  }
  throw err;
}

/** The known option nearest to a mistyped one, if it is close. */
function closest(word: string, candidates: readonly string[]): string | null {
  let best: string | null = null;
  let bestD = 3;
  for (const c of candidates) {
    if (c.length < 2) continue;
    const d = editDistance(word, c);
    if (d < bestD) {
      best = c;
      bestD = d;
    }
  }
  return best;
}

/** Runs one scenario with a progress line on a terminal and Ctrl-C handling. */
async function runOne(config: FloodConfig, label = ''): Promise<FloodResult> {
  const prepared = await prepare(config);
  const total = config.durationMs ?? (config.stages.length > 0 ? config.stages.reduce((n, s) => n + s.durationMs, 0) : null);
  const progress = new ProgressLine(process.stderr, total, label);
  const run = startFlood(prepared, {
    second: (entry, live) => progress.update(entry, live),
    notice: (text) => progress.notice(`floodgate flood: ${text}`),
  });
  let interrupts = 0;
  const onSigint = (): void => {
    interrupts++;
    if (interrupts > 1) process.exit(130);
    progress.notice('floodgate flood: stopping; waiting for the requests in flight (Ctrl-C again to quit at once)');
    run.stop('interrupt', 'interrupted (Ctrl-C)');
  };
  process.on('SIGINT', onSigint);
  try {
    const result = await run.done;
    if (result.stopped?.reason === 'bail') progress.notice(`floodgate flood: stopped by --bail: ${result.stopped.detail}`);
    return result;
  } finally {
    process.off('SIGINT', onSigint);
    progress.clear();
  }
}

async function toolInfo(): Promise<ToolInfo> {
  const pkg = JSON.parse(await readFile(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return { name: 'floodgate flood', version: pkg.version, node: process.version };
}

async function writeOutputs(entries: readonly HtmlEntry[], json: string | undefined, html: string | undefined, matrix: boolean): Promise<void> {
  if (json !== undefined) {
    const tool = await toolInfo();
    const docs = entries.map((e) => resultToJson(e.result, tool, e.thresholds));
    const doc = matrix ? { schema: MATRIX_SCHEMA, version: SCHEMA_VERSION, tool, results: docs } : docs[0];
    const text = `${JSON.stringify(doc, null, 2)}\n`;
    if (json === '-') process.stdout.write(text);
    else await writeFile(json, text);
  }
  if (html !== undefined) {
    const first = entries[0]?.result;
    const title = matrix ? 'floodgate flood: matrix' : `floodgate flood: ${first ? scenarioLabel(first.scenario) : ''}`;
    await writeFile(html, renderHtml(entries, title));
  }
}

/** 1 when a threshold breached, --bail stopped a run, or --strict and a run was generator-bound; 130 when interrupted. */
function exitCode(entries: readonly { result: FloodResult; thresholds: readonly ThresholdOutcome[] }[], strict: boolean, out: NodeJS.WritableStream): number {
  let code = 0;
  for (const { result, thresholds } of entries) {
    const who = entries.length > 1 ? `${scenarioLabel(result.scenario)}: ` : '';
    for (const t of thresholds.filter((x) => !x.passed)) {
      out.write(`THRESHOLD BREACHED: ${who}${t.threshold} (measured ${t.shown})\n`);
      code = 1;
    }
    if (result.stopped?.reason === 'bail') {
      out.write(`FAILED: ${who}stopped by --bail (${result.stopped.detail})\n`);
      code = 1;
    }
    if (verdict(result).nothingSucceeded) {
      out.write(`FAILED: ${who}no request succeeded\n`);
      code = 1;
    }
    if (strict && !verdict(result).trustworthy) {
      out.write(`FAILED (--strict): ${who}the load generator was the bottleneck; the figures cannot be trusted\n`);
      code = 1;
    }
    if (result.stopped?.reason === 'interrupt' && code === 0) code = 130;
  }
  return code;
}

async function runMatrix(file: string, values: Values, thresholds: readonly Threshold[]): Promise<number> {
  const scenarios = readMatrixFile(file);
  const global = rawOf(values);
  // flags given on the command line apply to every scenario, unless the scenario sets them itself
  const defined = Object.fromEntries(Object.entries(global).filter(([, v]) => v !== undefined)) as RawOptions;
  const configs = scenarios.map((s) => ({
    scenario: s,
    config: resolveOptions({ ...defined, ...s.options }),
    thresholds: [...thresholds, ...s.thresholds.map(parseThreshold)],
  }));
  const out = values.json === '-' ? process.stderr : process.stdout;
  const entries: HtmlEntry[] = [];
  for (const [i, c] of configs.entries()) {
    const label = `[${i + 1}/${configs.length}] ${c.scenario.name}  `;
    const result = await runOne(c.config, label);
    const outcomes = evaluateThresholds(c.thresholds, result);
    entries.push({ result, thresholds: outcomes });
    const s = summarize(result);
    const v = verdict(result);
    out.write(`${label}${formatInt(s.rps)} rps · p50 ${formatMs(s.latency.p50)} · p99 ${formatMs(s.latency.p99)} · ` +
      `errors ${formatPercent(s.errorRate)} · ${v.trustworthy ? 'trustworthy' : `generator-bound from ${v.generatorBoundFrom ?? 0} s`}` +
      `${outcomes.some((t) => !t.passed) ? ' · THRESHOLD BREACHED' : ''}\n`);
    if (result.stopped?.reason === 'interrupt') break;
  }
  out.write(`\n${renderComparison(entries.map((e) => e.result))}`);
  await writeOutputs(entries, values.json, values.html, true);
  return exitCode(entries, values.strict ?? false, out);
}

async function runMerge(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args: argv, options: MERGE_OPTIONS, allowPositionals: true, strict: true });
  if (values.help) {
    process.stdout.write(MERGE_HELP);
    return 0;
  }
  if (positionals.length === 0) throw new UsageError('merge: give the JSON result files to merge, e.g. floodgate flood merge a.json b.json');
  const thresholds = (values.threshold ?? []).map(parseThreshold);
  const inputs: FloodResult[][] = [];
  for (const file of positionals) {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      throw new UsageError(`merge: cannot read '${file}': ${(err as Error).message}`);
    }
    inputs.push(resultsFromText(text, file));
  }
  const out = values.json === '-' ? process.stderr : process.stdout;
  const allMatrices = inputs.length > 1 && inputs.every((r) => r.length > 1 && r.length === inputs[0]?.length);
  const merged = allMatrices
    ? (inputs[0] ?? []).map((_, i) => mergeResults(inputs.map((r) => r[i]).filter((r): r is FloodResult => r !== undefined)))
    : [mergeResults(inputs.flat())];
  const groups = allMatrices ? (inputs[0] ?? []).map((_, i) => inputs.map((r) => r[i]).filter((r): r is FloodResult => r !== undefined)) : [inputs.flat()];
  for (const group of groups) {
    const problem = overlapProblem(group);
    if (problem === undefined) continue;
    if (!values.force) throw new UsageError(`merge: ${problem}; merged, they would read as one run of their connections added up. Add --force to merge them anyway`);
    process.stderr.write(`floodgate flood merge: warning: ${problem}; the merged connections and rates describe load that never ran at once\n`);
  }
  const entries = merged.map((result) => ({ result, thresholds: evaluateThresholds(thresholds, result) }));
  if (entries.length === 1 && entries[0]) out.write(renderSummary(entries[0].result, entries[0].thresholds));
  else out.write(renderComparison(merged));
  await writeOutputs(entries, values.json, values.html, entries.length > 1);
  return exitCode(entries, values.strict ?? false, out);
}
