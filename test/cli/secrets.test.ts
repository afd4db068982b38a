// Secrets never printed: `floodgate serve --print-config` and the start-up log line, as a user runs them.
// Masking follows the option's kind: tokens are masked whole whatever they look like, URL options have every
// password masked, in every URL of a list.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { maskUrlPasswords } from '../../src/config.ts';

const SECRETS = ['r3dA', 'r3dB', 'r3dC', 'pgPw9', 'sslPw7', 'adm1nT0ken', 'hunter2', 'rt0k'];
const ENV = {
  REDIS_URL: 'redis://:r3dA@127.0.0.1:1,redis://u:r3dB@127.0.0.1:2, redis://:r3dC@127.0.0.1:3',
  DATABASE_URL: 'postgres://app:pgPw9@127.0.0.1:1/app?sslpassword=sslPw7&application_name=fg',
  FLOODGATE_ADMIN_TOKEN: 'redis:adm1nT0ken',
  FLOODGATE_READ_BASIC_AUTH: 'Redis-ro:hunter2',
  FLOODGATE_READ_TOKEN: 'postgres://rt0k',
};

const dir = mkdtempSync(join(tmpdir(), 'fg-secrets-'));
const childEnv = { ...process.env, ...ENV, FLOODGATE_DATA_DIR: dir, FLOODGATE_WORKERS: '1', PORT: '0', HOST: '127.0.0.1', FLOODGATE_SEED: '0' };
const ARGS = ['--disable-warning=ExperimentalWarning', 'bin/floodgate.js', 'serve'];

function assertMasked(text: string): void {
  for (const secret of SECRETS) assert.ok(!text.includes(secret), `${secret} is printed: ${text}`);
}

describe('secrets are masked by option kind', () => {
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('--print-config masks every Redis password, the PostgreSQL passwords and every token whole', () => {
    const r = spawnSync(process.execPath, [...ARGS, '--print-config'], { encoding: 'utf8', env: childEnv });
    assert.equal(r.status, 0, r.stderr);
    assertMasked(r.stdout + r.stderr);
    const printed = JSON.parse(r.stdout) as Record<string, string>;
    assert.equal(printed['redis-url'], 'redis://:***@127.0.0.1:1,redis://u:***@127.0.0.1:2,redis://:***@127.0.0.1:3', 'hosts stay readable');
    assert.equal(printed['database-url'], 'postgres://app:***@127.0.0.1:1/app?sslpassword=***&application_name=fg');
    assert.equal(printed.FLOODGATE_ADMIN_TOKEN, '***');
    assert.equal(printed.FLOODGATE_READ_BASIC_AUTH, '***');
    assert.equal(printed.FLOODGATE_READ_TOKEN, '***');
  });

  it('the start-up log line masks them the same way', async () => {
    const child = spawn(process.execPath, [...ARGS, '--log-level', 'info'], { env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    try {
      const line = await new Promise<string>((resolve, reject) => {
        child.stdout.on('data', (chunk: Buffer) => {
          out += chunk.toString('utf8');
          const found = out.split('\n').find((l) => l.includes('"starting floodgate"'));
          if (found !== undefined) resolve(found);
        });
        child.once('exit', (code) => reject(new Error(`exited ${code} before logging its start: ${out}`)));
      });
      assertMasked(line);
      const { config } = JSON.parse(line) as { config: Record<string, string> };
      assert.equal(config.redisUrl, 'redis://:***@127.0.0.1:1,redis://u:***@127.0.0.1:2,redis://:***@127.0.0.1:3');
      assert.equal(config.adminToken, '***');
      assert.equal(config.readBasicAuth, '***');
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('a URL list part that is not a URL is masked whole; hosts and other parameters stay', () => {
    assert.equal(maskUrlPasswords('redis://:p,ass@h:6379'), '***,***', 'a raw comma in a password splits the list: both halves hidden');
    assert.equal(maskUrlPasswords('host=db password=x'), '***');
    assert.equal(maskUrlPasswords('redis://h:6379,rediss://u@h2'), 'redis://h:6379,rediss://u@h2');
    assert.equal(maskUrlPasswords('postgres:///db?host=/run/pg'), 'postgres:///db?host=/run/pg');
  });
});
