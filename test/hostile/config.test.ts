// Hostile input through the config parser (issue 14): generated flags and environment. Whatever is given,
// loadConfig returns a configuration or throws a ConfigError naming the problem (never another error); a
// valid value means what the table says; flags win over the environment; and no secret option's value (nor a
// URL password inside it) is ever printed by describeConfig (what --print-config and the start-up log show).
// A few cases run `floodgate serve --print-config` itself: exit 0 or 2, one line on stderr, no stack trace.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { ConfigError, describeConfig, loadConfig, OPTIONS } from '../../src/config.ts';
import { check } from './property.ts';

type Spec = { flag?: string; env: string; kind: string; min?: number; max?: number; secret?: boolean; unit?: string; choices?: readonly string[] };
const SPECS = Object.entries(OPTIONS) as [keyof typeof OPTIONS, Spec][];
const FLAGS = SPECS.flatMap(([, s]) => (s.flag ? [s.flag] : []));
const ENVS = SPECS.map(([, s]) => s.env);
const SECRETS = SPECS.filter(([, s]) => s.secret);

const rawValue = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 20 }),
  fc.constantFrom('', ' ', '0', '-1', '1e9', '9'.repeat(400), 'NaN', 'Infinity', '0x10', '1.5', '256MiB', '1GiB', '5m', '500ms', '1h', '10 s', 'true', 'off', '--port', '=', 'redis://:pw@h:1', '\u0000', '1'.repeat(20) + 'GiB'),
  fc.integer({ min: -10, max: 70_000 }).map(String),
);

const argv = fc.array(
  fc.oneof(
    fc.tuple(fc.constantFrom(...FLAGS), rawValue).map(([f, v]) => [`--${f}`, v]),
    fc.tuple(fc.constantFrom(...FLAGS), rawValue).map(([f, v]) => [`--${f}=${v}`]),
    fc.constantFrom(...FLAGS).map((f) => [`--${f}`]),
    fc.constantFrom(['--cache-size', '1'], ['--pool-size', '2'], ['--bogus'], ['-p', '1'], ['serve'], ['--'], ['---port', '1'], ['--=1'], ['--PORT', '1']),
  ),
  { maxLength: 6 },
).map((xs) => xs.flat());

const env = fc.dictionary(fc.oneof(fc.constantFrom(...ENVS, 'FLOODGATE_CACHE_SIZE', 'FLOODGATE_POOL_SIZE', 'FLOODGATE_BOGUS'), fc.string({ maxLength: 8 })), rawValue, { maxKeys: 6 });

/** The value (ms, bytes or count) a valid number with this suffix means for a spec, as the README's table says. */
const UNIT: Record<string, number> = { '': 1, b: 1, kb: 1e3, mb: 1e6, gb: 1e9, kib: 1024, mib: 1024 ** 2, gib: 1024 ** 3 };
const TIME: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

describe('hostile input: configuration', () => {
  it('any flags and environment: a configuration or a ConfigError, never another error', async (t) => {
    await check(t, fc.property(argv, env, (args, vars) => {
      try {
        const { config } = loadConfig(args, vars);
        JSON.stringify(describeConfig(config));
      } catch (err) {
        assert.ok(err instanceof ConfigError, `${(err as Error).name}: ${(err as Error).message} for ${JSON.stringify(args)} ${JSON.stringify(vars)}`);
        assert.ok((err as Error).message.length > 0);
      }
    }), 2);
  });

  it('a valid number, size or duration means what the table says, and a flag wins over the environment', async (t) => {
    const numeric = SPECS.filter(([, s]) => s.flag && ['int', 'bytes', 'duration'].includes(s.kind));
    const pick = fc.constantFrom(...numeric).chain(([name, spec]) => {
      const suffix = spec.kind === 'bytes' ? fc.constantFrom('', 'b', 'kb', 'KiB', 'MiB', 'mb') : spec.kind === 'duration' ? fc.constantFrom('', 'ms', 's', 'm') : fc.constant('');
      return fc.tuple(fc.constant(name), fc.constant(spec), fc.integer({ min: 0, max: 100_000 }), suffix, fc.integer({ min: 0, max: 100_000 }));
    });
    await check(t, fc.property(pick, ([name, spec, n, suffix, other]) => {
      const lower = suffix.toLowerCase();
      const mult = spec.kind === 'duration' ? (lower === '' ? 1 : TIME[lower]) : UNIT[lower];
      const want = spec.kind === 'duration' ? Math.round(n * (mult ?? NaN)) : Math.floor(n * (mult ?? NaN));
      // A duration needs its unit; a bare 0 means the same in every unit.
      const bareDuration = spec.kind === 'duration' && suffix === '' && n !== 0;
      const inRange = !bareDuration && (spec.min === undefined || want >= spec.min) && (spec.max === undefined || want <= spec.max);
      const run = () => loadConfig([`--${spec.flag}`, `${n}${suffix}`], { [spec.env]: `${other}${spec.kind === 'duration' ? 'ms' : ''}` }).config[name];
      if (inRange) assert.equal(run(), want, `--${spec.flag} ${n}${suffix}`);
      else assert.throws(run, ConfigError);
    }), 1);
  });

  it('no secret option\'s value, nor the password of a URL in it, is ever printed', async (t) => {
    const secret = fc.stringMatching(/^[A-Za-z0-9]{10,16}$/);
    const shaped = fc.tuple(secret, secret, fc.constantFrom('plain', 'scheme', 'url', 'list', 'userinfo', 'basic')).map(([a, b, shape]) => {
      const v = { plain: a, scheme: `redis:${a}`, url: `redis://:${a}@127.0.0.1:6379`, list: `redis://:${b}@127.0.0.1:1,redis://:${a}@127.0.0.1:2`, userinfo: `postgres://user:${a}@db/app`, basic: `Redis-ro:${a}` }[shape];
      return { value: v, hidden: [a, ...(shape === 'list' ? [b] : [])] };
    });
    await check(t, fc.property(fc.constantFrom(...SECRETS), shaped, ([, spec], { value, hidden }) => {
      let printed: string;
      try {
        printed = JSON.stringify(describeConfig(loadConfig([], { [spec.env]: value }).config));
      } catch (err) {
        assert.ok(err instanceof ConfigError);
        assert.ok(!hidden.some((h) => (err as Error).message.includes(h)), `the error prints a secret: ${(err as Error).message}`);
        return;
      }
      for (const h of hidden) assert.ok(!printed.includes(h), `${spec.env}=${value} printed as ${printed.slice(0, 400)}`);
    }), 1);
  });

  it('floodgate serve --print-config with any flags and environment exits 0 or 2, with one line and no stack trace', async (t) => {
    await check(t, fc.asyncProperty(argv.map((xs) => xs.filter((x) => !x.includes('\u0000'))), env, async (args, vars) => {
      const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !ENVS.includes(k)));
      const r = spawnSync(process.execPath, ['bin/floodgate.js', 'serve', '--print-config', ...args], { encoding: 'utf8', env: { ...clean, ...Object.fromEntries(Object.entries(vars).filter(([k, v]) => !k.includes('\u0000') && !v.includes('\u0000') && k !== '')) }, timeout: 20_000 });
      assert.ok(r.status === 0 || r.status === 2, `exit ${r.status} ${r.signal}: ${r.stderr}`);
      assert.doesNotMatch(r.stderr, /^\s+at /m, r.stderr);
      if (r.status === 2) assert.match(r.stderr, /^floodgate serve: .+\n$/);
    }), 0.01, { shrink: false });
  });
});
