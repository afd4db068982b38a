// One validated configuration object: flags > environment > defaults. Validated once, at start-up, loudly;
// unknown flags and renamed options are errors; the result is frozen and printable (--print-config).
import { availableParallelism } from 'node:os';
import { parseDurationMs } from './common/duration.ts';
import { editDistance } from './common/edit-distance.ts';

type Kind = 'int' | 'bytes' | 'duration' | 'string' | 'bool' | 'enum';

interface Spec {
  /** Flag without the dashes; undefined = environment only (secrets never belong on a command line). */
  readonly flag?: string;
  readonly env: string;
  readonly kind: Kind;
  readonly default: string | number | boolean;
  readonly min?: number;
  readonly max?: number;
  readonly choices?: readonly string[];
  /**
   * How the value is shown when printed (--print-config, the start-up log): 'whole' is never shown at all
   * (tokens, passwords); 'url-passwords' is a URL or a comma-separated list of URLs shown with every password
   * masked. Decided by the option, never by how its value looks.
   */
  readonly secret?: 'whole' | 'url-passwords';
  /** How the default is shown where it depends on the machine (e.g. 'cores'). */
  readonly defaultDoc?: string;
  readonly doc: string;
}

const MiB = 1024 * 1024;

/** Every option the server takes. The README's configuration table is checked against this by a test. */
export const OPTIONS = {
  port: { flag: 'port', env: 'PORT', kind: 'int', default: 8080, min: 0, max: 65535, doc: 'TCP port to listen on (0 = any free port).' },
  host: { flag: 'host', env: 'HOST', kind: 'string', default: '0.0.0.0', doc: 'Address to listen on.' },
  dataDir: { flag: 'data-dir', env: 'FLOODGATE_DATA_DIR', kind: 'string', default: './data', doc: 'Folder of the embedded SQLite store (floodgate.db).' },
  databaseUrl: { flag: 'database-url', env: 'DATABASE_URL', kind: 'string', default: '', secret: 'url-passwords', doc: 'postgres://… switches the store to PostgreSQL; empty = embedded SQLite.' },
  listenDatabaseUrl: { flag: 'listen-database-url', env: 'FLOODGATE_LISTEN_DATABASE_URL', kind: 'string', default: '', secret: 'url-passwords', doc: 'Direct postgres:// URL for the change feed\'s LISTEN connection, when DATABASE_URL goes through a transaction-mode pooler (PgBouncer) that cannot LISTEN; empty = DATABASE_URL.' },
  dbSchema: { flag: 'db-schema', env: 'FLOODGATE_DB_SCHEMA', kind: 'string', default: 'floodgate', doc: 'PostgreSQL schema holding floodgate\'s tables (created by the migrations).' },
  dbPool: { flag: 'db-pool', env: 'FLOODGATE_DB_POOL', kind: 'int', default: 10, min: 1, max: 1000, doc: 'Store connections at most (PostgreSQL); requests never map to connections.' },
  storeTimeout: { flag: 'store-timeout', env: 'FLOODGATE_STORE_TIMEOUT', kind: 'duration', default: 1000, min: 1, doc: 'Deadline of one store call, waiting for a pooled connection included.' },
  redisUrl: { flag: 'redis-url', env: 'REDIS_URL', kind: 'string', default: '', secret: 'url-passwords', doc: 'redis://host:port adds the Redis tier; several comma-separated URLs or redis+cluster:// use Redis Cluster.' },
  redisPrefix: { flag: 'redis-prefix', env: 'FLOODGATE_REDIS_PREFIX', kind: 'string', default: 'fg:', doc: 'Prefix of every Redis key and of the invalidation channel; instances sharing content share it.' },
  redisTimeout: { flag: 'redis-timeout', env: 'FLOODGATE_REDIS_TIMEOUT', kind: 'duration', default: 100, min: 1, doc: 'Deadline of one Redis command; a slow or absent Redis is skipped, never waited on.' },
  cacheBytes: { flag: 'cache-bytes', env: 'FLOODGATE_CACHE_BYTES', kind: 'bytes', default: 256 * MiB, min: 0, doc: 'Memory tier size in bytes (256MiB, 1GiB, …); 0 turns the memory tier off.' },
  ttl: { flag: 'ttl', env: 'FLOODGATE_TTL', kind: 'duration', default: 300_000, min: 1000, doc: 'Default freshness of cached content and Cache-Control max-age; collections may override.' },
  staleTtl: { flag: 'stale-ttl', env: 'FLOODGATE_STALE_TTL', kind: 'duration', default: 3_600_000, min: 0, doc: 'How long past its TTL content may still be served while it is refreshed or while the store fails.' },
  negativeTtl: { flag: 'negative-ttl', env: 'FLOODGATE_NEGATIVE_TTL', kind: 'duration', default: 5000, min: 0, doc: 'How long a 404 is remembered by the memory tier.' },
  collections: { flag: 'collections', env: 'FLOODGATE_COLLECTIONS', kind: 'string', default: '', doc: 'JSON file defining collections: TTL, fallback body, read-only SQL source.' },
  adminToken: { env: 'FLOODGATE_ADMIN_TOKEN', kind: 'string', default: '', secret: 'whole', doc: 'Bearer token for the write API; unset = writes answer 403.' },
  readToken: { env: 'FLOODGATE_READ_TOKEN', kind: 'string', default: '', secret: 'whole', doc: 'When set, reads need "Authorization: Bearer <token>".' },
  readBasicAuth: { env: 'FLOODGATE_READ_BASIC_AUTH', kind: 'string', default: '', secret: 'whole', doc: 'When set ("user:password"), reads accept HTTP basic auth, as Braze Connected Content credentials send it.' },
  seed: { flag: 'seed', env: 'FLOODGATE_SEED', kind: 'int', default: 100_000, min: 0, doc: 'Demo users (ids 1..N in collection default) written at start when the store is empty; 0 = none.' },
  bodyLimit: { flag: 'body-limit', env: 'FLOODGATE_BODY_LIMIT', kind: 'bytes', default: 1 * MiB, min: 1, doc: 'Largest body a PUT accepts (bytes).' },
  bulkLimit: { flag: 'bulk-limit', env: 'FLOODGATE_BULK_LIMIT', kind: 'bytes', default: 64 * MiB, min: 1, doc: 'Largest NDJSON body a _bulk POST accepts (bytes).' },
  deadline: { flag: 'deadline', env: 'FLOODGATE_DEADLINE', kind: 'duration', default: 1000, min: 10, max: 60_000, doc: 'Every read is answered within this time: content, else stale content, else the fallback body, else 503.' },
  maxInFlight: { flag: 'max-in-flight', env: 'FLOODGATE_MAX_IN_FLIGHT', kind: 'int', default: 1000, min: 1, doc: 'Reads not answerable from memory that may wait on Redis or the store at once, per process.' },
  maxQueue: { flag: 'max-queue', env: 'FLOODGATE_MAX_QUEUE', kind: 'int', default: 2000, min: 0, doc: 'Such reads that may wait for a slot, per process; beyond it they are answered degraded at once.' },
  maxEventLoopDelay: { flag: 'max-event-loop-delay', env: 'FLOODGATE_MAX_EVENT_LOOP_DELAY', kind: 'duration', default: 500, min: 0, doc: 'A read that misses memory is answered degraded when it waited longer than this for the event loop, or when that wait plus what a miss takes now would pass the deadline; idle connections never count; 0 = off.' },
  maxHeap: { flag: 'max-heap', env: 'FLOODGATE_MAX_HEAP', kind: 'bytes', default: 0, min: 0, doc: 'V8 heap use (bytes) above which misses are answered degraded; 0 = 90% of the V8 heap limit.' },
  maxRss: { flag: 'max-rss', env: 'FLOODGATE_MAX_RSS', kind: 'bytes', default: 0, min: 0, doc: 'Resident memory per process (bytes) above which misses are answered degraded; 0 = 90% of the memory available (cgroup limit or RAM) / workers.' },
  headersTimeout: { flag: 'headers-timeout', env: 'FLOODGATE_HEADERS_TIMEOUT', kind: 'duration', default: 10_000, min: 100, doc: 'A client must send the request line and headers within this time, else the connection is dropped (slowloris).' },
  requestTimeout: { flag: 'request-timeout', env: 'FLOODGATE_REQUEST_TIMEOUT', kind: 'duration', default: 30_000, min: 100, doc: 'A client must send the whole request, body included, within this time.' },
  keepAliveTimeout: { flag: 'keep-alive-timeout', env: 'FLOODGATE_KEEP_ALIVE_TIMEOUT', kind: 'duration', default: 65_000, min: 100, doc: 'An idle keep-alive connection is closed after this time; longer than a load balancer\'s 60 s idle timeout.' },
  maxHeaderSize: { flag: 'max-header-size', env: 'FLOODGATE_MAX_HEADER_SIZE', kind: 'bytes', default: 16 * 1024, min: 1024, max: 1024 * 1024, doc: 'Largest request line + headers (bytes); larger requests get 431.' },
  preload: { flag: 'preload', env: 'FLOODGATE_PRELOAD', kind: 'string', default: '', doc: 'Store collections (comma-separated) each worker streams into its memory tier before it listens and /readyz turns ready, as far as --cache-bytes allows; empty = none.' },
  warmup: { flag: 'warmup', env: 'FLOODGATE_WARMUP', kind: 'int', default: 1000, min: 0, doc: 'Reads each worker answers itself over loopback before it listens, so that its first real burst does not run cold code; 0 = none.' },
  listenSockets: { flag: 'listen-sockets', env: 'FLOODGATE_LISTEN_SOCKETS', kind: 'int', default: 2048, min: 1, max: 16_384, doc: 'Listening sockets per worker on the one port (SO_REUSEPORT, Linux; at most an eighth of the open-files limit): a busy event loop accepts one new connection per socket per iteration, so with 2048 a burst of new connections is accepted within a few iterations; 1 = one socket, shared by the workers (docs/design-notes.md, "Accepting a burst of connections").' },
  backlog: { flag: 'backlog', env: 'FLOODGATE_BACKLOG', kind: 'int', default: 65_535, min: 1, doc: 'Listen backlog: connections the kernel holds before they are accepted (capped by net.core.somaxconn).' },
  shutdownTimeout: { flag: 'shutdown-timeout', env: 'FLOODGATE_SHUTDOWN_TIMEOUT', kind: 'duration', default: 10_000, min: 0, doc: 'On SIGTERM (or a rolling restart) in-flight requests get this long to finish before connections are cut.' },
  tlsCert: { flag: 'tls-cert', env: 'FLOODGATE_TLS_CERT', kind: 'string', default: '', doc: 'PEM certificate (chain) file; with --tls-key the server speaks HTTPS.' },
  tlsKey: { flag: 'tls-key', env: 'FLOODGATE_TLS_KEY', kind: 'string', default: '', doc: 'PEM private key file of --tls-cert.' },
  tlsSelfSigned: { flag: 'tls-self-signed', env: 'FLOODGATE_TLS_SELF_SIGNED', kind: 'bool', default: false, doc: 'Serve HTTPS with a certificate for localhost generated at start (local use only).' },
  workers: { flag: 'workers', env: 'FLOODGATE_WORKERS', kind: 'int', default: availableParallelism(), defaultDoc: 'the number of cores', min: 1, max: 256, doc: 'Worker processes.' },
  logLevel: { flag: 'log-level', env: 'LOG_LEVEL', kind: 'enum', default: 'info', choices: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], doc: 'Log level of the JSON logs.' },
  fastPath: { flag: 'fast-path', env: 'FLOODGATE_FAST_PATH', kind: 'bool', default: true, doc: 'Read plain-HTTP GET/HEAD reads with floodgate\'s own lean HTTP/1.1 reader; everything else goes through node:http, and all of it with --fast-path=false.' },
  logRequests: { flag: 'log-requests', env: 'FLOODGATE_LOG_REQUESTS', kind: 'bool', default: false, doc: 'Log every request (off the hot path by default).' },
} as const satisfies Record<string, Spec>;

/**
 * The flags that turn event-loop shedding off: for measuring what the server answers with content at
 * saturation, and for tests of other mechanisms that a saturated loop would mask.
 */
export const EVENT_LOOP_SHEDDING_OFF: readonly string[] = ['--max-event-loop-delay', '0'];

/** Options that were renamed: using the old name is an error that names the new one. */
const RENAMED: Record<string, string> = {
  'cache-size': 'cache-bytes',
  'pool-size': 'db-pool',
  FLOODGATE_CACHE_SIZE: 'FLOODGATE_CACHE_BYTES',
  FLOODGATE_POOL_SIZE: 'FLOODGATE_DB_POOL',
};

/** Options that were removed: using one is an error that says what took its place. */
const REMOVED: Record<string, string> = {
  'max-utilization': 'event-loop shedding now follows the measured wait for the event loop, not utilisation: see --max-event-loop-delay',
  FLOODGATE_MAX_UTILIZATION: 'event-loop shedding now follows the measured wait for the event loop, not utilisation: see FLOODGATE_MAX_EVENT_LOOP_DELAY',
};

type Value<S> = S extends { kind: 'bool' } ? boolean : S extends { kind: 'int' | 'bytes' | 'duration' } ? number : string;
export type Config = { readonly [K in keyof typeof OPTIONS]: Value<(typeof OPTIONS)[K]> };
export type OptionName = keyof typeof OPTIONS;

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

// The one grammar of numbers a user types, for every option of every command (durations: common/duration.ts,
// which flood's options and the collections file use too; test/grammar.test.ts holds them to one table).
//   durations: one or more <number><unit> parts, unit us µs ms s m h: 300ms, 5s, 2m30s, 1.5h. A bare number is
//              refused (is "5" seconds or milliseconds?), except 0, which means the same in every unit.
//   sizes:     a whole number of bytes, or <number><unit>, unit B, KB MB GB (powers of 1000), KiB MiB GiB or
//              K M G (powers of 1024), any case: 16384, 16KiB, 256MiB, 1.5GiB.
//   counts:    a whole number; "_" may group digits: 100_000.
const SIZE_UNITS: Record<string, number> = { b: 1, kb: 1e3, mb: 1e6, gb: 1e9, kib: 1024, mib: MiB, gib: 1024 * MiB, k: 1024, m: MiB, g: 1024 * MiB };
export const DURATION_FORMS = 'a duration with a unit, e.g. 300ms, 5s, 2m30s or 1h';
export const SIZE_FORMS = 'a size, e.g. 16384 (bytes), 16KiB, 256MiB or 1GiB';

/** A mistake in a typed number; callers add where it was typed (flag, variable, file). */
export class GrammarError extends Error {
  override readonly name = 'GrammarError';
}

/**
 * "2m30s" → 150000 (milliseconds), in common/duration.ts's grammar (the one flood and the collections file use),
 * with no unit guessed for a bare number. Throws GrammarError saying what is wrong.
 */
export function parseDurationText(raw: string): number {
  const s = raw.trim().replace(/^([\d.]+)\s+(?=[a-zµ])/i, '$1'); // '500 ms' as '500ms'
  if (s.startsWith('-')) throw new GrammarError('a duration cannot be negative');
  if (/^\d+(\.\d+)?$/.test(s) && Number(s) !== 0) throw new GrammarError(`a bare number has no unit; write ${s}s or ${s}ms (${DURATION_FORMS})`);
  const ms = parseDurationMs(s);
  if (ms === undefined) throw new GrammarError(`expected ${DURATION_FORMS}`);
  return Math.round(ms);
}

/** "256MiB" → 268435456 (bytes). Throws GrammarError saying what is wrong. */
export function parseSizeText(raw: string): number {
  const s = raw.trim().replaceAll('_', '');
  if (s.startsWith('-')) throw new GrammarError('a size cannot be negative');
  const m = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i.exec(s);
  const mult = m ? ((m[2] ?? '') === '' ? 1 : SIZE_UNITS[(m[2] ?? '').toLowerCase()]) : undefined;
  if (!m || mult === undefined) throw new GrammarError(`expected ${SIZE_FORMS}`);
  if ((m[2] ?? '') === '' && !Number.isInteger(Number(m[1]))) throw new GrammarError(`a number of bytes is whole; write ${SIZE_FORMS}`);
  return Math.floor(Number(m[1]) * mult);
}

/** "100_000" → 100000. Throws GrammarError saying what is wrong. */
export function parseCountText(raw: string): number {
  const s = raw.trim().replaceAll('_', '');
  if (/^-\d+$/.test(s)) throw new GrammarError('cannot be negative');
  if (!/^\d+$/.test(s)) throw new GrammarError('expected a whole number, e.g. 10 or 100_000');
  return Number(s);
}

/** 150000 → "2m30s", 300000 → "5m", 100 → "100ms": the shortest exact form parseDurationText reads back. */
export function formatDurationText(ms: number): string {
  if (ms === 0) return '0';
  const parts: string[] = [];
  let rest = ms;
  for (const [unit, size] of [['h', 3_600_000], ['m', 60_000], ['s', 1000]] as const) {
    if (rest >= size) {
      parts.push(`${Math.floor(rest / size)}${unit}`);
      rest %= size;
    }
  }
  if (rest > 0) parts.push(`${rest}ms`);
  return parts.join('');
}

/** 268435456 → "256MiB", 16384 → "16KiB", 1000 → "1000": exact, as parseSizeText reads it back. */
export function formatSizeText(n: number): string {
  for (const [unit, size] of [['GiB', 1024 * MiB], ['MiB', MiB], ['KiB', 1024]] as const) if (n >= size && n % size === 0) return `${n / size}${unit}`;
  return String(n);
}

function parseValue(spec: Spec, raw: string | boolean, where: string): string | number | boolean {
  const bad = (what: string): never => {
    throw new ConfigError(`${where}: ${what} (got ${JSON.stringify(raw)}). ${spec.doc}`);
  };
  if (spec.kind === 'bool') {
    if (typeof raw === 'boolean') return raw;
    const v = raw.trim().toLowerCase();
    if (['1', 'true', 'yes', 'on'].includes(v)) return true;
    if (['0', 'false', 'no', 'off', ''].includes(v)) return false;
    return bad('expected true or false');
  }
  const text = String(raw).trim();
  if (spec.kind === 'string') return text;
  if (spec.kind === 'enum') {
    if (!spec.choices?.includes(text)) bad(`expected one of ${spec.choices?.join(', ')}`);
    return text;
  }
  let n = 0;
  try {
    n = spec.kind === 'int' ? parseCountText(text) : spec.kind === 'bytes' ? parseSizeText(text) : parseDurationText(text);
  } catch (err) {
    if (!(err instanceof GrammarError)) throw err;
    bad(err.message);
  }
  const show = (v: number): string => (spec.kind === 'duration' ? formatDurationText(v) : spec.kind === 'bytes' ? formatSizeText(v) : String(v));
  if (spec.min !== undefined && n < spec.min) bad(`must be at least ${show(spec.min)}`);
  if (spec.max !== undefined && n > spec.max) bad(`must be at most ${show(spec.max)}`);
  return n;
}

/**
 * Builds the configuration from flags (`--port 9000`, `--port=9000`, `--log-requests`), the environment and
 * the defaults. Throws ConfigError naming the offending flag or variable. `extraFlags` are flags the calling
 * command handles itself, each saying whether it takes a value (e.g. { 'print-config': false,
 * collection: true }); their values are returned as given.
 */
export function loadConfig(
  argv: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
  extraFlags: Readonly<Record<string, boolean>> = {},
): { config: Config; extra: Record<string, string | boolean> } {
  const byFlag = new Map<string, [OptionName, Spec]>();
  for (const [name, spec] of Object.entries(OPTIONS) as [OptionName, Spec][]) {
    if (spec.flag) byFlag.set(spec.flag, [name, spec]);
  }
  const fromFlags = new Map<OptionName, string | boolean>();
  const extra: Record<string, string | boolean> = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    if (!arg.startsWith('--')) throw new ConfigError(`unexpected argument '${arg}' (options start with --; see --help)`);
    const eq = arg.indexOf('=');
    const flag = eq === -1 ? arg.slice(2) : arg.slice(2, eq);
    if (RENAMED[flag]) throw new ConfigError(`--${flag} was renamed to --${RENAMED[flag]}`);
    if (REMOVED[flag]) throw new ConfigError(`--${flag} was removed: ${REMOVED[flag]}`);
    const known = byFlag.get(flag);
    const isExtra = Object.hasOwn(extraFlags, flag);
    if (!known && !isExtra) {
      const hint = closest(flag, [...byFlag.keys(), ...Object.keys(extraFlags)]);
      throw new ConfigError(`unknown option --${flag}${hint === undefined ? '' : ` (did you mean --${hint}?)`} (see --help)`);
    }
    const takesValue = known ? known[1].kind !== 'bool' : extraFlags[flag] === true;
    let value: string | boolean;
    if (eq !== -1) value = arg.slice(eq + 1);
    else if (!takesValue) value = true;
    else {
      const next = argv[i + 1];
      if (next === undefined || next.startsWith('--')) throw new ConfigError(`--${flag} needs a value`);
      value = next;
      i++;
    }
    if (known) fromFlags.set(known[0], value);
    else extra[flag] = value;
  }
  for (const [oldName, why] of Object.entries(REMOVED)) {
    if (oldName === oldName.toUpperCase() && env[oldName] !== undefined) throw new ConfigError(`environment variable ${oldName} was removed: ${why}`);
  }
  for (const [oldName, newName] of Object.entries(RENAMED)) {
    if (oldName === oldName.toUpperCase() && env[oldName] !== undefined) {
      throw new ConfigError(`environment variable ${oldName} was renamed to ${newName}`);
    }
  }
  const out: Record<string, string | number | boolean> = {};
  for (const [name, spec] of Object.entries(OPTIONS) as [OptionName, Spec][]) {
    const flagValue = fromFlags.get(name);
    const envValue = env[spec.env];
    if (flagValue !== undefined) out[name] = parseValue(spec, flagValue, `--${spec.flag}`);
    else if (envValue !== undefined && envValue !== '') out[name] = parseValue(spec, envValue, spec.env);
    else out[name] = spec.default;
  }
  const url = String(out.databaseUrl);
  if (url !== '' && !/^postgres(ql)?:\/\//i.test(url)) {
    const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(url)?.[1];
    const where = fromFlags.has('databaseUrl') ? '--database-url' : 'DATABASE_URL';
    throw new ConfigError(`${where}: floodgate stores content in PostgreSQL (postgres://…) or, when empty, in embedded SQLite; ${scheme ? `'${scheme}:' URLs are not supported` : 'got something that is not a URL'}`);
  }
  return { config: Object.freeze(out) as Config, extra };
}

/** The known name nearest to a mistyped one (edit distance 1 or 2, or a prefix), if there is one. */
export function closest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = 3;
  for (const c of candidates) {
    const d = c.startsWith(word) && word.length >= 3 ? 1 : editDistance(word, c);
    if (d < bestD) {
      best = c;
      bestD = d;
    }
  }
  return best;
}

/**
 * The configuration as the user types it (--print-config): flag names (the variable for environment-only
 * options), durations and sizes in their units ("5m", "256MiB"), secrets masked as describeConfig masks them.
 */
export function printableConfig(config: Config): Record<string, unknown> {
  const described = describeConfig(config);
  const out: Record<string, unknown> = {};
  for (const [name, spec] of Object.entries(OPTIONS) as [OptionName, Spec][]) {
    const value = described[name];
    const shown = typeof value !== 'number' ? value : spec.kind === 'duration' ? formatDurationText(value) : spec.kind === 'bytes' ? formatSizeText(value) : value;
    out[spec.flag ?? spec.env] = shown;
  }
  return out;
}

/** The configuration as printable JSON, secrets masked. */
export function describeConfig(config: Config): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, spec] of Object.entries(OPTIONS) as [OptionName, Spec][]) {
    const value = config[name];
    out[name] = spec.secret === undefined || value === '' ? value : spec.secret === 'whole' ? MASK : maskUrlPasswords(String(value));
  }
  return out;
}

const MASK = '***';
/** Query parameters that carry a secret in a connection URL (libpq's password, sslpassword, …). */
const SECRET_PARAM = /pass|secret|token|key/i;

/**
 * Each comma-separated URL with its password and any password-like query parameter masked; a part that does not
 * parse as a URL is masked whole (it may be a password with a comma in it, or a keyword=value string).
 */
export function maskUrlPasswords(value: string): string {
  return value.split(',').map((part) => {
    const text = part.trim();
    if (text === '') return part;
    let url: URL;
    try {
      url = new URL(text);
    } catch {
      return MASK;
    }
    if (!text.includes('://')) return MASK; // 'redis:adm1nT0ken' parses as a URL, but has no authority: all secret
    if (url.password !== '') url.password = MASK;
    for (const key of [...url.searchParams.keys()]) if (SECRET_PARAM.test(key)) url.searchParams.set(key, MASK);
    return url.toString();
  }).join(',');
}

/** The help text of the options, generated from the table so it cannot drift. */
export function optionsHelp(): string {
  const specs = Object.values(OPTIONS) as Spec[];
  const flagOf = (spec: Spec): string => (spec.flag ? `--${spec.flag}${spec.kind === 'bool' ? '' : ' <v>'}` : '(env only)');
  const fw = Math.max(...specs.map((s) => flagOf(s).length)) + 2;
  const ew = Math.max(...specs.map((s) => s.env.length)) + 2;
  return specs.map((spec) => `  ${flagOf(spec).padEnd(fw)}${spec.env.padEnd(ew)}${spec.doc} (default ${formatDefault(spec)})`).join('\n');
}

export function formatDefault(spec: Spec): string {
  if (spec.secret) return 'unset';
  if (spec.defaultDoc) return spec.defaultDoc;
  const d = spec.default;
  if (spec.kind === 'bytes' && typeof d === 'number') return formatSizeText(d);
  if (spec.kind === 'duration' && typeof d === 'number') return formatDurationText(d);
  if (d === '') return 'empty';
  return String(d);
}

/** The README's configuration table, generated from OPTIONS (scripts/docs.ts writes it; a test compares). */
export function optionsMarkdown(): string {
  const rows = ['| Flag | Environment | Default | Meaning |', '| --- | --- | --- | --- |'];
  for (const spec of Object.values(OPTIONS) as Spec[]) {
    rows.push(`| ${spec.flag ? `\`--${spec.flag}\`` : '(env only)'} | \`${spec.env}\` | ${formatDefault(spec)} | ${spec.doc.replaceAll('|', '\\|')} |`);
  }
  return rows.join('\n');
}
