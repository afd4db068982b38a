// floodgate warm: load an audience into a running deployment before a send (issue 11). It sends the keys in
// batches to POST /v1/content/<collection>/_warm (src/http/warm.ts) at a bounded rate; the server reads each batch
// from the store in a few queries and fills Redis and the memory tier of every worker of every instance.
import { parseArgs } from 'node:util';
import { closest, formatSizeText, parseCountText } from '../config.ts';
import { AudienceError, DEFAULT_COLUMN, fileAudience, rangeAudience, STDIN, type Audience } from './warm-audience.ts';
import type { MemoryState, WarmOutcome } from '../content/warm.ts';
import type { Command } from './main.ts';

/** Keys a second by default (see docs/operations.md, "Warming before a send": why). */
export const DEFAULT_RATE = 20_000;
const DEFAULT_BATCH = 1000;
/** The server takes at most this many keys a request (src/http/warm.ts MAX_WARM_KEYS). */
const MAX_BATCH = 10_000;
const DEFAULT_RETRIES = 2;
/** Batches sent before the first is answered. */
const IN_FLIGHT = 2;
const RETRY_PAUSE_MS = 1000;
const REQUEST_TIMEOUT_MS = 60_000;

const HELP = `floodgate warm: load an audience into a running floodgate before a send, so that every recipient's first
read is a memory hit instead of a store read.

Usage: floodgate warm --url http://HOST:PORT (--ids FILE | --ids - | --range FIRST-LAST | --all) [options]
       The admin token comes from FLOODGATE_ADMIN_TOKEN (the one the server was started with), never a flag.

The audience (one of):
  --ids FILE          the keys, one a line; a .csv file (or any file with --column) is read as CSV with a
                      header row, the keys in one column. '-' reads standard input.
  --column NAME       the CSV column holding the keys (default ${DEFAULT_COLUMN}, as floodgate import reads)
  --range FIRST-LAST  the decimal keys FIRST..LAST (the demo users of floodgate seed: --range 1-100000)
  --all               every key of the collection in the store

Options:
  --url URL           the server (any worker, any instance: each batch reaches all of them)
  --collection NAME   the collection (default default)
  --rate N            keys a second at most (default ${DEFAULT_RATE}); 0 = as fast as the server answers
  --batch N           keys a request (default ${DEFAULT_BATCH}, at most ${MAX_BATCH})
  --skip N            skip the first N keys of the audience (to go on after a stopped run)
  --retries N         tries again after a failed batch this many times, a second apart (default ${DEFAULT_RETRIES})
  --json              print the summary as one JSON object
  --help              this text

What it does: the worker that receives a batch reads it from the store with one query per 250 keys (yielding to
live requests between them), stores it in its memory tier and in Redis (when configured), and hands the records
to the other workers of its server; other instances on the same Redis load the keys from Redis, never from the
store. Warming a key twice is harmless: a newer version is never replaced by an older one.

At the end it prints what was found, what is missing from the store, the bytes, and whether the audience fits
the memory tier (--cache-bytes of the servers): if not, how many keys fit and by how much to raise it.
A TTY gets a progress bar (keys, keys a second, time left); otherwise a line every 5 seconds.

Exit status: 0 warmed; 1 stopped part-way (the store or the server failed: the message says how far it got);
2 a problem with what was asked (the URL, the token, the collection, the ids).

Examples:
  FLOODGATE_ADMIN_TOKEN=s3cret floodgate warm --url http://10.0.0.5:8080 --range 1-1000000
  floodgate warm --url http://localhost:8080 --collection offers --ids campaign-42.csv --column user_id
  producer | floodgate warm --url http://localhost:8080 --ids - --rate 20000
`;

const OPTIONS = {
  url: { type: 'string' },
  collection: { type: 'string' },
  ids: { type: 'string' },
  column: { type: 'string' },
  range: { type: 'string' },
  all: { type: 'boolean' },
  rate: { type: 'string' },
  batch: { type: 'string' },
  skip: { type: 'string' },
  retries: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** What was asked is wrong or refused (exit 2). */
class UsageError extends Error {}
/** The run stopped part-way (exit 1). */
class StoppedError extends Error {}

/** One batch's answer: the server's own outcome (content/warm.ts), which worker gave it, and its memory tier. */
type Outcome = WarmOutcome & { worker: number; memory: MemoryState | null; next?: number | null };
interface Probe { memory: MemoryState | null; redis: 'up' | 'down' | 'off'; records?: number }

interface Plan {
  base: string;
  collection: string;
  audience: Audience | undefined; // undefined: --all
  rate: number;
  batch: number;
  skip: number;
  retries: number;
  json: boolean;
}

export const command: Command = {
  summary: 'load an audience into a running floodgate before a send',
  async run(argv) {
    let plan: Plan;
    try {
      const { values, positionals } = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
      if (values.help) {
        process.stdout.write(HELP);
        return 0;
      }
      if (positionals.length > 0) throw new UsageError(`unexpected argument '${positionals[0]}' (the server is --url URL)`);
      plan = await resolve(values);
    } catch (err) {
      return failure(err);
    }
    const token = process.env['FLOODGATE_ADMIN_TOKEN'] ?? '';
    if (token === '') return failure(new UsageError('FLOODGATE_ADMIN_TOKEN is not set: warming is an admin call; set it to the admin token the server was started with'));
    try {
      return await warm(plan, new Client(plan.base, plan.collection, token, plan.retries));
    } catch (err) {
      return failure(err);
    }
  },
};

function failure(err: unknown): number {
  const code = (err as { code?: unknown }).code;
  let message = (err as Error).message;
  if (typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS')) {
    const unknown = /Unknown option '(-{1,2}[^']+)'/.exec(message);
    if (unknown?.[1]) {
      const hint = closest(unknown[1].replace(/^-+/, ''), Object.keys(OPTIONS));
      message = `unknown option '${unknown[1]}'${hint ? ` (did you mean --${hint}?)` : ''}`;
    }
  } else if (!(err instanceof UsageError || err instanceof AudienceError || err instanceof StoppedError)) {
    throw err;
  }
  process.stderr.write(`${progressClear()}floodgate warm: ${message}\n`);
  if (!(err instanceof StoppedError)) process.stderr.write("Run 'floodgate warm --help' for the options and examples.\n");
  return err instanceof StoppedError ? 1 : 2;
}

type Values = ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true }>>['values'];

async function resolve(v: Values): Promise<Plan> {
  if (v.url === undefined) throw new UsageError('name the server: --url http://HOST:PORT');
  const base = baseUrl(v.url);
  const given = [v.ids !== undefined && '--ids', v.range !== undefined && '--range', v.all === true && '--all'].filter(Boolean);
  if (given.length === 0) throw new UsageError('name the audience: --ids FILE, --ids - (standard input), --range FIRST-LAST or --all');
  if (given.length > 1) throw new UsageError(`${given.join(' and ')} each name the whole audience; give one`);
  if (v.column !== undefined && v.ids === undefined) throw new UsageError('--column names the CSV column of --ids FILE; add --ids or drop it');
  if (v.skip !== undefined && v.all === true) throw new UsageError('--skip counts keys of --ids or --range; --all pages through the store (run it again to go over it again)');
  const count = (flag: string, raw: string | undefined, dflt: number, min: number, max = Number.MAX_SAFE_INTEGER): number => {
    if (raw === undefined) return dflt;
    let n: number;
    try {
      n = parseCountText(raw);
    } catch (err) {
      throw new UsageError(`--${flag}: '${raw}': ${(err as Error).message}`);
    }
    if (n < min || n > max) throw new UsageError(`--${flag}: '${raw}': from ${min} to ${max}`);
    return n;
  };
  const collection = v.collection ?? 'default';
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/.test(collection)) throw new UsageError(`--collection: '${collection}' is not a collection name (1 to 64 letters, digits, "_", "." or "-")`);
  const audience = v.all === true ? undefined : v.range !== undefined ? rangeAudience(v.range) : await fileAudience(v.ids ?? STDIN, v.column);
  if (audience?.total === 0) throw new AudienceError(`the audience is empty: ${audience.describe} holds no keys`);
  const skip = count('skip', v.skip, 0, 0);
  if (audience?.total !== undefined && skip >= audience.total) throw new AudienceError(`--skip ${skip} skips the whole audience (${audience.total} keys in ${audience.describe})`);
  return {
    base, collection, audience, skip,
    rate: count('rate', v.rate, DEFAULT_RATE, 0),
    batch: count('batch', v.batch, DEFAULT_BATCH, 1, MAX_BATCH),
    retries: count('retries', v.retries, DEFAULT_RETRIES, 0, 100),
    json: v.json === true,
  };
}

/** The server's origin: http(s)://host[:port], nothing after it. */
function baseUrl(text: string): string {
  let u: URL;
  try {
    u = new URL(text);
  } catch {
    throw new UsageError(`--url: '${text}' is not a URL; write it as http://HOST:PORT`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new UsageError(`--url: '${text}' is ${u.protocol} not http: or https:; write it as http://HOST:PORT`);
  if ((u.pathname !== '/' && u.pathname !== '') || u.search !== '' || u.hash !== '') throw new UsageError(`--url: '${text}': give the server only (http://HOST:PORT); the path is floodgate's`);
  if (u.username !== '' || u.password !== '') throw new UsageError('--url: no credentials in the URL; the admin token comes from FLOODGATE_ADMIN_TOKEN');
  return u.origin;
}

/** The warm requests: JSON both ways, retried on a network error or a 503, errors turned into words. */
class Client {
  readonly #url: string;
  readonly #base: string;
  readonly #collection: string;
  readonly #token: string;
  readonly #retries: number;

  constructor(base: string, collection: string, token: string, retries: number) {
    this.#base = base;
    this.#collection = collection;
    this.#url = `${base}/v1/content/${encodeURIComponent(collection)}/_warm`;
    this.#token = token;
    this.#retries = retries;
  }

  /** The first call: checks the URL, the token and the collection; answers the memory budget (and the record count). */
  async probe(count: boolean): Promise<Probe> {
    const { status, body } = await this.#post({ keys: [], ...(count ? { count: true } : {}) }, 0, true);
    if (status !== 200) throw this.#refused(status, body);
    if (!('memory' in body)) throw new UsageError(`${this.#base} answered the warm call without a memory state: is it floodgate (0.1 or later)?`);
    return body as unknown as Probe;
  }

  /** One batch (keys, or a page of --all); a failure after the retries throws, with the server's account of it. */
  async warm(payload: { keys: string[] } | { after: number; limit: number }): Promise<Outcome> {
    for (let attempt = 0; ; attempt++) {
      let answer: { status: number; body: Record<string, unknown> };
      try {
        answer = await this.#post(payload, attempt, false);
      } catch (err) {
        if (attempt < this.#retries) {
          await sleep(RETRY_PAUSE_MS);
          continue;
        }
        throw err;
      }
      const { status, body } = answer;
      if (status === 200) return body as unknown as Outcome;
      if (status >= 500 && attempt < this.#retries) {
        await sleep(RETRY_PAUSE_MS);
        continue;
      }
      if (status >= 500) throw new ServerFailure(status, body);
      throw this.#refused(status, body);
    }
  }

  async #post(payload: unknown, attempt: number, first: boolean): Promise<{ status: number; body: Record<string, unknown> }> {
    let res: Response;
    try {
      res = await fetch(this.#url, {
        method: 'POST',
        headers: { authorization: `Bearer ${this.#token}`, 'content-type': 'application/json' },
        body: JSON.stringify(payload),
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      });
    } catch (err) {
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      const why = cause?.code === 'ECONNREFUSED' ? 'nothing listens there (connection refused)' : (cause?.message ?? (err as Error).message);
      const text = `cannot reach ${this.#base}: ${why}`;
      // Before anything was warmed, an unreachable server is a wrong --url; later, the run stopped.
      throw first ? new UsageError(`${text}; check --url`) : new StoppedError(`${text}${attempt > 0 ? ` (after ${attempt + 1} tries)` : ''}`);
    }
    const text = await res.text();
    let body: Record<string, unknown>;
    try {
      body = JSON.parse(text) as Record<string, unknown>;
      if (typeof body !== 'object' || body === null) throw new Error('not an object');
    } catch {
      throw new UsageError(`${this.#base} answered ${res.status} with something other than floodgate's JSON (${JSON.stringify(text.slice(0, 80))}): is --url a floodgate server?`);
    }
    return { status: res.status, body };
  }

  #refused(status: number, body: Record<string, unknown>): Error {
    const error = body.error as { code?: string; message?: string } | undefined;
    const code = error?.code ?? '';
    const said = error?.message ?? '';
    if (code === 'FG_ERR_UNAUTHORIZED') return new UsageError(`${this.#base} refused the admin token (401): FLOODGATE_ADMIN_TOKEN is not the token the server was started with`);
    if (code === 'FG_ERR_WRITES_DISABLED') return new UsageError(`${this.#base} has no admin token (it was started without FLOODGATE_ADMIN_TOKEN), so it refuses warm-ups (403); restart it with one`);
    if (code === 'FG_ERR_UNKNOWN_COLLECTION') return new UsageError(`--collection ${this.#collection}: ${said}`);
    if (status >= 500) return new StoppedError(`${this.#base} answered ${status}: ${said || 'no reason given'}`);
    return new UsageError(`${this.#base} refused the warm call (${status}${code ? ` ${code}` : ''}): ${said || 'no reason given'}${code === 'FG_ERR_ROUTE_NOT_FOUND' || status === 405 && code === '' ? ' (an older floodgate?)' : ''}`);
  }
}

/** A batch the server could not warm (a 5xx), with what it says it did before. */
class ServerFailure extends Error {
  readonly status: number;
  readonly body: Record<string, unknown>;
  constructor(status: number, body: Record<string, unknown>) {
    super((body.error as { message?: string } | undefined)?.message ?? `the server answered ${status}`);
    this.status = status;
    this.body = body;
  }
}

/** The counts of a batch's outcome that the run adds up. */
const SUMMED = ['found', 'missing', 'bytes', 'kept', 'accounted', 'newer'] as const;

/** What the run did so far: the SUMMED counts of every batch, and the rest. */
interface Tally extends Record<(typeof SUMMED)[number], number> {
  sent: number;
  batches: number;
  redis: Set<string>;
  /** Other workers of the receiving server; null once a primary did not answer. */
  workers: number | null;
  /** The fewest other workers that held a batch. */
  answered: number | undefined;
  announced: boolean;
  receivers: Set<number>;
  memory: MemoryState | null;
}

async function warm(plan: Plan, client: Client): Promise<number> {
  const probe = await client.probe(plan.audience === undefined);
  const total = plan.audience === undefined ? (probe.records ?? 0) : plan.audience.total === undefined ? undefined : plan.audience.total - plan.skip;
  if (plan.audience === undefined && total === 0) throw new AudienceError(`the audience is empty: collection ${plan.collection} holds no records`);
  const t: Tally = { sent: 0, found: 0, missing: 0, bytes: 0, kept: 0, accounted: 0, newer: 0, batches: 0, redis: new Set(), workers: 0, answered: undefined, announced: false, receivers: new Set(), memory: probe.memory };
  const progress = new Progress(process.stderr, plan.collection, total);
  const t0 = performance.now();
  let warned = false;
  let interrupted = false;
  /** Keys sent, answered or not: what the rate paces. */
  let launched = 0;
  const onSigint = (): void => {
    if (interrupted) process.exit(130);
    interrupted = true;
  };
  process.on('SIGINT', onSigint);

  /** Where each batch sits in the audience: the keys before it, its number, its size, its first key. */
  interface Slot { at: number; index: number; size: number; first: string | undefined }
  let slots = 0;
  /** Answered batches past the longest answered prefix of the audience (two fly at once: the second may land first). */
  const ahead = new Map<number, number>();
  /** Keys of the longest prefix of the audience every batch of which was answered: what --skip may pass over. */
  let prefix = 0;
  const slot = (size: number, first: string | undefined): Slot => {
    const at = launched;
    launched += size;
    return { at, index: ++slots, size, first };
  };

  const send = async (payload: { keys: string[] } | { after: number; limit: number }, s: Slot): Promise<Outcome> => {
    // The rate: a batch leaves when the keys sent before it are due.
    if (plan.rate > 0) {
      const due = t0 + (s.at / plan.rate) * 1000 - performance.now();
      if (due > 0) await sleep(due);
    }
    const o = await client.warm(payload);
    t.batches++;
    t.sent += o.requested;
    for (const k of SUMMED) t[k] += o[k];
    t.redis.add(o.redis);
    t.receivers.add(o.worker);
    if (o.workers === null || t.workers === null) t.workers = null;
    else if (o.found > 0) {
      t.workers = Math.max(t.workers, o.workers);
      t.answered = Math.min(t.answered ?? o.answered, o.answered);
    }
    t.announced ||= o.announced;
    t.memory = o.memory;
    ahead.set(s.at, s.size);
    for (let n = ahead.get(prefix); n !== undefined; n = ahead.get(prefix)) {
      ahead.delete(prefix);
      prefix += n;
    }
    progress.update(t.sent, performance.now() - t0);
    if (!warned && t.found >= 1000 && total !== undefined && o.memory !== null) {
      warned = true;
      const need = (t.accounted / Math.max(1, t.kept)) * total * (t.found / Math.max(1, t.sent));
      if (need > o.memory.maxBytes) progress.notice(`note: this audience needs about ${bytes(need)} of memory per worker and --cache-bytes is ${bytes(o.memory.maxBytes)}: about ${pct(o.memory.maxBytes / need)} of it fits; the keys warmed first will be pushed out by the later ones`);
    }
    return o;
  };
  /** A failed batch in words, once every batch in flight has settled. */
  const explain = (s: Slot, err: unknown): unknown => {
    const skipTo = plan.skip + prefix;
    if (err instanceof ServerFailure) return stopped(plan, t, skipTo, err, s);
    if (err instanceof StoppedError) return new StoppedError(`${err.message}\n  ${soFar(plan, t, skipTo)}`);
    return err;
  };

  try {
    if (plan.audience === undefined) {
      for (let after: number | null = 0; after !== null && !interrupted;) {
        const s = slot(0, undefined);
        const o: Outcome = await send({ after, limit: plan.batch }, s).catch((err: unknown) => {
          throw explain(s, err);
        });
        after = o.next ?? null;
      }
    } else {
      // IN_FLIGHT batches at a time: the server works on one while the next travels (a worker runs its batches one
      // after the other, so this adds no concurrency to the store).
      const flying = new Set<Promise<unknown>>();
      const failures: { s: Slot; err: unknown }[] = [];
      const launch = async (keys: string[]): Promise<void> => {
        while (flying.size >= IN_FLIGHT) await Promise.race(flying);
        if (failures.length > 0) return;
        const s = slot(keys.length, keys[0]);
        const p: Promise<unknown> = send({ keys }, s).catch((err: unknown) => {
          failures.push({ s, err });
        }).finally(() => flying.delete(p));
        flying.add(p);
      };
      let batch: string[] = [];
      let skipped = 0;
      try {
        for await (const key of plan.audience.keys()) {
          if (skipped < plan.skip) {
            skipped++;
            continue;
          }
          batch.push(key);
          if (batch.length === plan.batch) {
            await launch(batch);
            batch = [];
            if (interrupted || failures.length > 0) break;
          }
        }
        if (batch.length > 0 && !interrupted && failures.length === 0) await launch(batch);
      } finally {
        await Promise.all(flying);
      }
      // The first failed batch in the audience's order is where the run stopped.
      const first = failures.sort((a, b) => a.s.at - b.s.at)[0];
      if (first !== undefined) throw explain(first.s, first.err);
      if (t.sent === 0 && !interrupted) throw new AudienceError(`the audience is empty: ${plan.audience.describe} holds no keys`);
    }
  } catch (err) {
    progress.clear();
    if (err instanceof AudienceError && t.sent > 0) throw new AudienceError(`${err.message}\n  ${soFar(plan, t, plan.skip + prefix)}`);
    throw err;
  } finally {
    process.off('SIGINT', onSigint);
  }
  progress.finish(t.sent, performance.now() - t0);
  const seconds = (performance.now() - t0) / 1000;
  const summary = summarize(plan, probe, t, seconds, interrupted);
  process.stdout.write(plan.json ? `${JSON.stringify(summary.json)}\n` : summary.text);
  return interrupted ? 130 : 0;
}


function stopped(plan: Plan, t: Tally, skipTo: number, err: ServerFailure, s: { index: number; size: number; first: string | undefined }): StoppedError {
  const failed = err.body.failed as { first?: string; last?: string; keys?: number } | undefined;
  const warmed = err.body.warmed as { found?: number } | undefined;
  const which = failed?.first !== undefined
    ? `keys ${JSON.stringify(failed.first)} to ${JSON.stringify(failed.last)}`
    : s.first !== undefined ? `the batch of ${s.size} keys from ${JSON.stringify(s.first)}` : `the page after ${int(t.sent)} keys`;
  const code = (err.body.error as { code?: string } | undefined)?.code;
  const reason = typeof err.body.reason === 'string' ? err.body.reason : err.message;
  const tries = plan.retries > 0 ? ` after ${plan.retries + 1} tries a second apart` : '';
  const partly = warmed?.found ? `; ${int(warmed.found)} keys of the failed batch were warmed before its store query failed` : '';
  return new StoppedError([
    `stopped at batch ${s.index}, ${which}: the server answered ${err.status}${code ? ` ${code}` : ''}${tries}: ${reason}`,
    `  ${soFar(plan, t, skipTo)}${partly}`,
    '  the server keeps serving what it holds; the rest is read from the store as it is asked for',
  ].join('\n'));
}

/** How far the run got, in words, and how to go on: --skip passes over the answered prefix of the audience. */
function soFar(plan: Plan, t: Tally, skipTo: number): string {
  const resume = plan.audience === undefined ? 'to go on, run the same command again' : `to go on, run the same command with --skip ${skipTo}`;
  return `warmed before it: ${int(t.sent)} keys in ${t.batches} batches (found ${int(t.found)}, missing ${int(t.missing)}); ${resume} (warming a key twice is harmless)`;
}

interface Summary {
  text: string;
  json: Record<string, unknown>;
}

function summarize(plan: Plan, probe: Probe, t: Tally, seconds: number, interrupted: boolean): Summary {
  const lines: string[] = [];
  const rate = t.sent / Math.max(seconds, 0.001);
  lines.push(`${interrupted ? 'interrupted after warming' : 'warmed'} ${int(t.sent)} keys of collection ${plan.collection} in ${seconds.toFixed(1)} s (${int(rate)} keys/s)`);
  lines.push(`  found ${int(t.found)}, missing ${int(t.missing)}${t.missing > 0 ? ' (not in the store: each is a store read at the send, answered 404)' : ''}; ${bytes(t.bytes)} of bodies`);
  const m = t.memory;
  const budget: Record<string, unknown> = {};
  if (m === null) {
    lines.push('  memory: the tier is off (--cache-bytes 0): only Redis was filled');
  } else {
    const perKey = t.kept > 0 ? t.accounted / t.kept : 0;
    const need = perKey * t.found;
    const fits = need <= m.maxBytes;
    const fitKeys = fits ? t.found : Math.floor(m.maxBytes / Math.max(perKey, 1));
    const evicted = m.evictions - (probe.memory?.evictions ?? 0);
    Object.assign(budget, { maxBytes: m.maxBytes, needBytes: Math.round(need), fits, fitKeys, pushedOut: Math.max(0, t.found - fitKeys), evictions: evicted });
    if (fits) {
      lines.push(`  memory: the audience takes ${bytes(need)} per worker of --cache-bytes ${bytes(m.maxBytes)} (${pct(need / m.maxBytes)}): it fits${evicted > 0 ? `; ${int(evicted)} older entries were pushed out to make room` : ''}`);
    } else {
      const redis = t.redis.has('stored') ? ' Redis holds them all: those are answered from Redis, not the store.' : ' Without Redis they are store reads at the send.';
      lines.push(`  memory: DOES NOT FIT: the audience needs ${bytes(need)} per worker and --cache-bytes is ${bytes(m.maxBytes)}: about ${int(fitKeys)} keys (${pct(fitKeys / Math.max(1, t.found))}) fit, ${int(t.found - fitKeys)} do not (the keys warmed first were pushed out by the later ones).${redis}`);
      lines.push(`          to hold it all, raise --cache-bytes to at least ${formatSizeText(Math.ceil((need * 1.1) / (1 << 20)) << 20)} (+10 %), or warm a smaller audience`);
    }
  }
  const workers = t.workers === null ? 'some of them did not answer in time (their primary was silent)' : `${t.answered === undefined ? 1 : 1 + t.answered} of ${1 + t.workers}`;
  const redis = t.redis.has('unavailable') ? 'unavailable for some batches (those are in memory only)' : t.redis.has('stored') ? 'stored' : 'not configured';
  lines.push(`  workers: ${workers} hold it${t.newer > 0 ? ` (${int(t.newer)} keys changed meanwhile: the newer version was kept)` : ''}; redis: ${redis}; other instances: ${t.announced ? 'told through Redis (they load the keys from Redis)' : 'none told (no Redis: warm each instance by its own URL)'}`);
  return {
    text: `${lines.join('\n')}\n`,
    json: {
      collection: plan.collection, keys: t.sent, found: t.found, missing: t.missing, bytes: t.bytes, seconds: Number(seconds.toFixed(3)), keysPerSecond: Math.round(rate),
      batches: t.batches, kept: t.kept, accounted: t.accounted, newer: t.newer, memory: m === null ? null : budget,
      workers: t.workers === null ? null : 1 + t.workers, workersHolding: t.workers === null ? null : 1 + (t.answered ?? 0), redis: [...t.redis], announced: t.announced, interrupted,
    },
  };
}

/** The progress bar on a TTY (redrawn at most 5 times a second), a plain line every 5 s elsewhere. */
class Progress {
  readonly #out: NodeJS.WriteStream;
  readonly #label: string;
  readonly #total: number | undefined;
  readonly #tty: boolean;
  #last = -Infinity;
  #shown = false;

  constructor(out: NodeJS.WriteStream, collection: string, total: number | undefined) {
    this.#out = out;
    this.#label = collection;
    this.#total = total;
    this.#tty = out.isTTY === true;
    active = this;
  }

  update(done: number, ms: number): void {
    const every = this.#tty ? 200 : 5000;
    if (ms - this.#last < every) return;
    this.#last = ms;
    this.#draw(done, ms);
  }

  finish(done: number, ms: number): void {
    if (this.#tty) this.clear();
    else if (this.#shown) this.#draw(done, ms);
    active = undefined;
  }

  notice(text: string): void {
    this.clear();
    this.#out.write(`${text}\n`);
  }

  clear(): void {
    if (this.#tty && this.#shown) this.#out.write('\r\x1b[2K');
    this.#shown = false;
  }

  #draw(done: number, ms: number): void {
    const rate = done / Math.max(ms / 1000, 0.001);
    const total = this.#total;
    const parts: string[] = [];
    if (total !== undefined && total > 0) {
      const f = Math.min(1, done / total);
      const eta = rate > 0 ? (total - done) / rate : Infinity;
      if (this.#tty) {
        const width = 24;
        const n = Math.round(f * width);
        parts.push(`[${'#'.repeat(n)}${'.'.repeat(width - n)}] ${(f * 100).toFixed(0).padStart(3)}%`);
      } else parts.push(`${(f * 100).toFixed(0)}%`);
      parts.push(`${int(done)}/${int(total)} keys`, `${int(rate)} keys/s`, `ETA ${Number.isFinite(eta) ? duration(eta) : '?'}`);
    } else {
      parts.push(`${int(done)} keys`, `${int(rate)} keys/s`);
    }
    if (this.#tty) this.#out.write(`\r\x1b[2Kwarming ${this.#label}  ${parts.join('  ')}`);
    else this.#out.write(`warm: ${this.#label}: ${parts.join(', ')}\n`);
    this.#shown = true;
  }
}

/** The progress bar being drawn, so that an error message starts on a clean line. */
let active: Progress | undefined;
function progressClear(): string {
  active?.clear();
  return '';
}

const INT = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });
function int(n: number): string {
  return INT.format(n);
}
function pct(f: number): string {
  return `${(f * 100).toFixed(f < 0.1 ? 1 : 0)} %`;
}
function bytes(n: number): string {
  if (n >= 1 << 30) return `${(n / (1 << 30)).toFixed(2)} GiB`;
  if (n >= 1 << 20) return `${(n / (1 << 20)).toFixed(1)} MiB`;
  if (n >= 1 << 10) return `${(n / (1 << 10)).toFixed(1)} KiB`;
  return `${Math.round(n)} B`;
}
function duration(s: number): string {
  if (s < 60) return `${Math.ceil(s)}s`;
  const m = Math.floor(s / 60);
  return `${m}m${String(Math.ceil(s - m * 60)).padStart(2, '0')}s`;
}
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
