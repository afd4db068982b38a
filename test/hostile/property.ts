// Shared by the hostile-input suites (issue 14): how many cases each property runs and with which seed (both
// printed, both replayable from the environment), the documented-answer checks every suite makes, and a small
// HTTP client that sends exactly the method, path, headers and bytes a case generated.
//   FLOODGATE_PROPERTY_RUNS  cases per property at share 1 (default 1000; each property scales it by its share)
//   FLOODGATE_PROPERTY_SEED  fast-check's seed (default: a new one each run, printed)
import assert from 'node:assert/strict';
import { Agent, request, type IncomingHttpHeaders } from 'node:http';
import type { TestContext } from 'node:test';
import fc from 'fast-check';
import { ERRORS } from '../../src/http/errors.ts';

function envInt(name: string): number | undefined {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return undefined;
  const n = Number(raw);
  if (!Number.isSafeInteger(n)) throw new Error(`${name} must be a whole number (got ${JSON.stringify(raw)})`);
  return n;
}

export const BASE_RUNS = Math.max(1, envInt('FLOODGATE_PROPERTY_RUNS') ?? 1000);
export const SEED = envInt('FLOODGATE_PROPERTY_SEED') ?? (Date.now() ^ Math.floor(Math.random() * 2 ** 31)) | 0;

/**
 * Runs one property for BASE_RUNS × share cases with the file's seed, printing both first (the test's
 * diagnostic output), so a failure seen in CI can be replayed exactly. fast-check's own failure message
 * carries the seed, the path and the shrunk counterexample.
 */
export async function check<Ts extends unknown[]>(t: TestContext, property: fc.IAsyncPropertyWithHooks<Ts> | fc.IPropertyWithHooks<Ts>, share = 1, opts: { shrink?: boolean } = {}): Promise<void> {
  const numRuns = Math.max(1, Math.round(BASE_RUNS * share));
  t.diagnostic(`fast-check seed=${SEED} runs=${numRuns} (replay: FLOODGATE_PROPERTY_SEED=${SEED} FLOODGATE_PROPERTY_RUNS=${BASE_RUNS})`);
  const t0 = performance.now();
  // A case that spawns a process costs seconds: shrinking those would take minutes, so they report as found.
  await fc.assert(property as fc.IAsyncProperty<Ts>, { seed: SEED, numRuns, endOnFailure: opts.shrink === false });
  t.diagnostic(`${numRuns} cases passed in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
}

export interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

export interface Sent {
  method: string;
  path: string;
  headers?: Record<string, string>;
  body?: Buffer | string;
}

/** One request on `agent`, nothing added but Host (and Content-Length for a body). Rejects on a socket error. */
export function send(base: string, agent: Agent, req: Sent, timeoutMs = 10_000): Promise<Reply> {
  const { hostname, port } = new URL(base);
  // Framed by Content-Length always: node:http sends a DELETE's or an OPTIONS' body unframed otherwise.
  const headers = req.body === undefined ? req.headers : { ...req.headers, 'Content-Length': String(Buffer.byteLength(req.body)) };
  return new Promise((resolve, reject) => {
    const r = request({ host: hostname, port, method: req.method, path: req.path, headers, agent, timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (d: Buffer) => chunks.push(d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    r.on('timeout', () => r.destroy(new Error(`no answer within ${timeoutMs} ms to ${req.method} ${req.path}`)));
    r.on('error', reject);
    r.end(req.body);
  });
}

export const keepAlive = (): Agent => new Agent({ keepAlive: true, maxSockets: 1 });

/**
 * Asserts a documented error answer: a JSON body {"error":{"code","message"}} whose code is in the registry
 * (src/http/errors.ts) with the status answered, and, when given, one of `codes`. HEAD answers have no body:
 * only the status is checked. Returns the code.
 */
export function assertError(reply: Reply, codes?: readonly string[], method = 'GET'): string | undefined {
  const where = `${reply.status} ${reply.body.toString('utf8').slice(0, 300)}`;
  assert.ok(reply.status >= 400, `expected an error answer, got ${where}`);
  if (method === 'HEAD') {
    if (codes) assert.ok(codes.some((c) => ERRORS[c as keyof typeof ERRORS]?.status === reply.status), `HEAD: status ${reply.status} is none of ${codes.join(', ')}`);
    return undefined;
  }
  assert.match(String(reply.headers['content-type']), /^application\/json/, `error without a JSON Content-Type: ${where}`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(reply.body.toString('utf8'));
  } catch {
    assert.fail(`error body is not JSON: ${where}`);
  }
  const error = (parsed as { error?: { code?: unknown; message?: unknown } }).error;
  assert.equal(typeof error?.code, 'string', `no error.code: ${where}`);
  assert.equal(typeof error?.message, 'string', `no error.message: ${where}`);
  const code = error?.code as string;
  const registered = ERRORS[code as keyof typeof ERRORS];
  assert.ok(registered, `code ${code} is not in the registry`);
  assert.equal(reply.status, registered.status, `${code} is registered as ${registered.status}, answered ${reply.status}`);
  if (codes) assert.ok(codes.includes(code), `expected ${codes.join(' or ')}, got ${where}`);
  return code;
}
