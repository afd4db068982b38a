// One grammar for every number a user types: each duration option of serve takes the same forms as flood's
// durations and the collections file's TTLs; each size option the same size forms; mistakes say what is wrong.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, OPTIONS, loadConfig, printableConfig, type OptionName } from '../src/config.ts';
import { CollectionsError, parseCollections } from '../src/content/collections.ts';
import { parseDuration as floodDuration } from '../src/flood/units.ts';

const names = (kind: string): OptionName[] => (Object.entries(OPTIONS) as [OptionName, { kind: string; flag?: string }][]).filter(([, s]) => s.kind === kind && s.flag !== undefined).map(([n]) => n);
const flagOf = (name: OptionName): string => `--${(OPTIONS[name] as { flag?: string }).flag}`;
const inRange = (name: OptionName, v: number): boolean => {
  const spec = OPTIONS[name] as { min?: number; max?: number };
  return (spec.min === undefined || v >= spec.min) && (spec.max === undefined || v <= spec.max);
};
const problem = (argv: string[]): string => {
  try {
    loadConfig(argv, {});
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err.message;
  }
  return '';
};

describe('the flag grammar', () => {
  it('serve --ttl 2m30s is 150 s', () => {
    assert.equal(loadConfig(['--ttl', '2m30s'], {}).config.ttl, 150_000);
  });

  it('every duration option takes the forms flood takes, and reads them alike', () => {
    const forms = ['2m30s', '5s', '300ms', '1h', '1.5s', '1m', '0'];
    const durations = names('duration');
    assert.ok(durations.length >= 10, durations.join(' '));
    for (const name of durations) {
      for (const form of forms) {
        const ms = floodDuration(form, 'flood');
        const argv = [flagOf(name), form];
        if (inRange(name, ms)) assert.equal(loadConfig(argv, {}).config[name], ms, argv.join(' '));
        else assert.match(problem(argv), /must be at (least|most) \d/, argv.join(' '));
      }
      // A bare number means nothing here, as in flood: a clear error that says how to write it.
      assert.match(problem([flagOf(name), '5']), /a bare number has no unit; write 5s or 5ms/, name);
      assert.throws(() => floodDuration('5', 'flood'), /write it with a unit/);
      assert.match(problem([flagOf(name), '-1']), /: a duration cannot be negative \(got "-1"\)/, name);
      assert.match(problem([flagOf(name), 'soon']), /expected a duration with a unit, e.g. 300ms, 5s, 2m30s or 1h/, name);
    }
    assert.match(problem(['--deadline', '-1']), /^--deadline: a duration cannot be negative/);
    assert.match(problem(['--deadline', '5ms']), /--deadline: must be at least 10ms/);
  });

  it('every size option takes the same size forms', () => {
    const forms: [string, number][] = [['16384', 16384], ['16KiB', 16384], ['16kib', 16384], ['64kb', 64_000], ['1MiB', 1024 * 1024], ['1.5MiB', 1.5 * 1024 * 1024], ['2M', 2 * 1024 * 1024], ['1_048_576', 1024 * 1024]];
    const sizes = names('bytes');
    assert.ok(sizes.length >= 6, sizes.join(' '));
    for (const name of sizes) {
      for (const [form, bytes] of forms) {
        const argv = [flagOf(name), form];
        if (inRange(name, bytes)) assert.equal(loadConfig(argv, {}).config[name], bytes, argv.join(' '));
        else assert.match(problem(argv), /must be at (least|most) \d/, argv.join(' '));
      }
      assert.match(problem([flagOf(name), '-1']), /a size cannot be negative/, name);
      assert.match(problem([flagOf(name), '12 parsecs']), /expected a size, e.g. 16384 \(bytes\), 16KiB, 256MiB or 1GiB/, name);
    }
  });

  it('the collections file reads TTLs in the same grammar', () => {
    const ttl = (v: unknown): number => parseCollections({ collections: { c: { ttl: v } } }, 1000).get('c')?.ttlMs ?? -1;
    assert.equal(ttl('2m30s'), 150_000);
    assert.equal(ttl('300ms'), 300);
    for (const bad of [300, '300', '-1s', '0']) assert.throws(() => ttl(bad), CollectionsError, String(bad));
    assert.throws(() => ttl(300), /ttl: a bare number has no unit; write "300s" or "300ms"/);
  });

  it('unknown flags get a "did you mean"', () => {
    assert.match(problem(['--prot', '1']), /unknown option --prot \(did you mean --port\?\)/);
    assert.match(problem(['--cache-byte', '1']), /did you mean --cache-bytes\?/);
    assert.match(problem(['--wibble']), /^unknown option --wibble \(see --help\)$/);
  });

  it('--print-config shows flag names and values as they are typed', () => {
    const shown = printableConfig(loadConfig(['--ttl', '2m30s'], {}).config);
    assert.equal(shown['ttl'], '2m30s');
    assert.equal(shown['cache-bytes'], '256MiB');
    assert.equal(shown['max-header-size'], '16KiB');
    assert.equal(shown['deadline'], '1s');
    assert.equal(shown['port'], 8080);
    assert.equal(shown['FLOODGATE_ADMIN_TOKEN'], '');
    assert.ok(!('cacheBytes' in shown));
    // What it prints reads back as the same configuration.
    const argv = Object.entries(shown).filter(([k, v]) => !/^[A-Z]/.test(k) && v !== '' && typeof v !== 'boolean').flatMap(([k, v]) => [`--${k}`, String(v)]);
    const again = loadConfig(argv, {}).config;
    assert.deepEqual(printableConfig(again), shown);
  });
});
