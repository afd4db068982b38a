// An origin collection's source (content/source.ts): reads go to the origin's client, answers become records
// with the origin's freshness (cache-control.ts) and Content-Type. Also its /readyz check and its start-up
// reachability probe.
import { connect } from 'node:net';
import type { CollectionDef } from '../content/collections.ts';
import { mediaTypeProblem } from '../content/media-type.ts';
import type { OriginDef } from '../content/origin-options.ts';
import type { ContentRecord } from '../content/record.ts';
import type { Source } from '../content/source.ts';
import { freshnessOf } from './cache-control.ts';
import { OriginClient, type OriginAnswer, type OriginClientOptions } from './client.ts';

export interface OriginSource extends Source {
  readonly client: OriginClient;
  /** Resolves while the origin answers; rejects, saying why, while it fails (the breaker is open or the last requests failed). */
  check(): Promise<void>;
  /** Whether a TCP connection to the origin opens within timeoutMs (a warning at start, never a failure). */
  reachable(timeoutMs?: number): Promise<boolean>;
}

export function openOriginSource(def: CollectionDef & { origin: OriginDef }, opts: OriginClientOptions & { now?: () => number }): OriginSource {
  const client = new OriginClient(def.origin, opts);
  const now = opts.now ?? Date.now;
  const toRecord = (collection: string, key: string, a: OriginAnswer & { found: true }): ContentRecord => {
    const t = now();
    const freshness = freshnessOf(a.cacheControl, a.age, def.ttlMs);
    const contentType = a.contentType !== undefined && mediaTypeProblem(a.contentType) === undefined ? a.contentType : def.contentType;
    return { collection, key, body: a.body, contentType, version: t, updatedAt: t, ...(freshness === undefined ? {} : { freshness }) };
  };
  return {
    kind: 'origin',
    client,
    async read(collection, key, ctx) {
      const answer = await client.get(key, ctx.headers, (late) => {
        if (late.found) ctx.late(toRecord(collection, key, late));
      }, ctx.background);
      return answer.found ? toRecord(collection, key, answer) : undefined;
    },
    onDelete: 'purge',
    writable: false,
    describe: `backed by the origin ${client.base} (read-only; DELETE purges a key from the caches)`,
    forwardHeaders: def.origin.forwardHeaders,
    close: () => client.close(),
    async check() {
      const b = client.breaker;
      if (b.state !== 'closed') throw new Error(`circuit breaker ${b.state}: ${b.lastError}`);
      if (b.failing > 0) throw new Error(`${b.failing} failed requests in a row: ${b.lastError}`);
    },
    reachable(timeoutMs = 1000) {
      const u = new URL(client.base);
      const port = Number(u.port) || (u.protocol === 'https:' ? 443 : 80);
      return new Promise<boolean>((resolve) => {
        const socket = connect({ host: u.hostname.replace(/^\[|\]$/g, ''), port, timeout: timeoutMs });
        const done = (ok: boolean): void => {
          socket.destroy();
          resolve(ok);
        };
        socket.once('connect', () => done(true));
        socket.once('timeout', () => done(false));
        socket.once('error', () => done(false));
      });
    },
  };
}
