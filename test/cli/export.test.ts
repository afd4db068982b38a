// floodgate export writes a collection as NDJSON that import reads back to the same records.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const BIN = fileURLToPath(new URL('../../bin/floodgate.js', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'fg-export-'));
after(() => rmSync(dir, { recursive: true, force: true }));
function floodgate(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!/^(FLOODGATE_|DATABASE_URL$|REDIS_URL$)/.test(k)) env[k] = v;
  return new Promise((resolve) => execFile(process.execPath, [BIN, ...args], { env, maxBuffer: 64 << 20 }, (err, stdout, stderr) => resolve({ code: err === null ? 0 : Number((err as { code?: unknown }).code ?? 1), stdout, stderr })));
}

it('export → import → export gives the same lines; stdout by default, --out FILE streams to a file', async () => {
  const a = join(dir, 'a');
  const b = join(dir, 'b');
  assert.equal((await floodgate(['seed', '--seed', '50', '--data-dir', a])).code, 0);
  const first = await floodgate(['export', '--data-dir', a]);
  assert.equal(first.code, 0, first.stderr);
  const lines = first.stdout.trim().split('\n');
  assert.equal(lines.length, 50);
  assert.deepEqual(Object.keys(JSON.parse(lines[0] ?? '{}') as object), ['key', 'body', 'contentType']);
  assert.match(first.stderr, /exported 50 records of collection default/);
  const file = join(dir, 'default.ndjson');
  assert.equal((await floodgate(['export', '--data-dir', a, '--out', file])).code, 0);
  assert.equal(readFileSync(file, 'utf8'), first.stdout);
  const imported = await floodgate(['import', file, '--data-dir', b]);
  assert.equal(imported.code, 0, imported.stderr);
  const again = await floodgate(['export', '--data-dir', b]);
  assert.deepEqual(again.stdout.trim().split('\n').sort(), [...lines].sort());
  assert.equal((await floodgate(['export', '--data-dir', a, '--collection', 'none'])).stdout, '');
});
