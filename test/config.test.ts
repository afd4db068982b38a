// Configuration: flags > env > defaults, validated loudly, frozen, secrets masked.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { backlogNote } from '../src/app.ts';
import { ConfigError, describeConfig, loadConfig } from '../src/config.ts';

describe('config', () => {
  it('has documented defaults', () => {
    const { config } = loadConfig([], {});
    assert.equal(config.port, 8080);
    assert.equal(config.cacheBytes, 256 * 1024 * 1024);
    assert.equal(config.ttl, 300_000);
    assert.equal(config.dbPool, 10);
    assert.equal(config.databaseUrl, '');
    assert.ok(Object.isFrozen(config));
  });

  it('takes flags over the environment over defaults, with units', () => {
    const { config } = loadConfig(['--port', '9000', '--ttl=2m', '--log-requests'], { PORT: '7000', FLOODGATE_CACHE_BYTES: '1GiB', FLOODGATE_TTL: '10s', FLOODGATE_STORE_TIMEOUT: '2s' });
    assert.equal(config.port, 9000);
    assert.equal(config.ttl, 120_000);
    assert.equal(config.cacheBytes, 1024 ** 3);
    assert.equal(config.storeTimeout, 2000);
    assert.equal(config.logRequests, true);
    assert.equal(loadConfig([], { FLOODGATE_TTL: '10s' }).config.ttl, 10_000);
  });

  it('rejects unknown, malformed, out-of-range and renamed options, naming them', () => {
    const bad: [string[], Record<string, string>, RegExp][] = [
      [['--prot', '1'], {}, /unknown option --prot \(did you mean --port\?\)/],
      [['--port', 'eighty'], {}, /--port: expected a whole number/],
      [['--port', '70000'], {}, /--port: must be at most 65535/],
      [[], { PORT: '-1' }, /PORT: cannot be negative/],
      [[], { FLOODGATE_CACHE_BYTES: '12 parsecs' }, /FLOODGATE_CACHE_BYTES/],
      [['--cache-size', '1'], {}, /--cache-size was renamed to --cache-bytes/],
      [[], { FLOODGATE_POOL_SIZE: '5' }, /FLOODGATE_POOL_SIZE was renamed to FLOODGATE_DB_POOL/],
      [['--log-level', 'loud'], {}, /expected one of/],
      [['--port'], {}, /--port needs a value/],
      [['serve'], {}, /unexpected argument 'serve'/],
    ];
    for (const [argv, env, re] of bad) assert.throws(() => loadConfig(argv, env), (e: unknown) => e instanceof ConfigError && re.test(e.message), `${argv.join(' ')} ${JSON.stringify(env)}`);
  });

  it('masks secrets when printed', () => {
    const { config } = loadConfig([], { DATABASE_URL: 'postgres://app:hunter2@db/app', FLOODGATE_ADMIN_TOKEN: 'tok' });
    const printed = JSON.stringify(describeConfig(config));
    assert.ok(!printed.includes('hunter2'));
    assert.ok(!printed.includes('"tok"'));
    assert.match(printed, /postgres:\/\/app:\*\*\*@db\/app/);
  });
});

describe('the listen backlog note', () => {
  it('speaks only when the kernel caps --backlog below what was asked, and says how to raise it', () => {
    const note = backlogNote(65_535, '4096\n');
    assert.match(note ?? '', /caps the listen backlog at 4096 \(net\.core\.somaxconn\), below --backlog 65535/);
    assert.match(note ?? '', /sysctl -w net\.core\.somaxconn=65535/);
    assert.equal(backlogNote(1000, '4096\n'), undefined, 'the cap is above what was asked');
    assert.equal(backlogNote(4096, '4096'), undefined);
    assert.equal(backlogNote(65_535, undefined), undefined, 'no such file (not Linux)');
    assert.equal(backlogNote(65_535, 'garbage'), undefined);
  });
});
