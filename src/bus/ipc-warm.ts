// Warmed records from one worker to the other workers of its `floodgate serve` (floodgate warm, issue 11), through
// the primary's IPC like invalidations (ipc-bus.ts), but acknowledged: the worker that read a batch from the store
// hands the records over and waits until every other worker has them in memory (or the primary gave up on a
// silent one), so a warm-up is paced by the slowest worker, never queued up in pipes, and each store read serves
// every worker. The IPC channel speaks JSON: a batch travels as columns, its bodies as one base64 string (a Buffer
// in JSON is an array of numbers, about 3.5 characters a byte; base64 is 1.33).
import { etagNumberOfRecord } from '../content/read-result.ts';
import type { ContentRecord } from '../content/record.ts';
import type { IpcChannel } from './ipc-bus.ts';

/** Worker → primary: records to hand to the others; primary → each other worker: the same, under its own id. */
export const IPC_WARM = 'floodgate:warm';
/** Worker → primary: the records of relay `id` are in its memory tier. */
export const IPC_WARM_ACK = 'floodgate:warm-ack';
/** Primary → the worker that shared: how many other workers there were and how many acknowledged in time. */
export const IPC_WARM_DONE = 'floodgate:warm-done';

export interface IpcWarm {
  readonly t: typeof IPC_WARM;
  readonly id: number;
  readonly collection: string;
  readonly keys: readonly string[];
  readonly versions: readonly number[];
  readonly updated: readonly number[];
  /** Content types, each once; `type[i]` indexes it. */
  readonly typeNames: readonly string[];
  readonly type: readonly number[];
  readonly lengths: readonly number[];
  /** Each body's ETag number, so that no other worker hashes it again. */
  readonly etags: readonly number[];
  /** Every body, one after the other, base64. */
  readonly bodies: string;
}
export interface IpcWarmAck {
  readonly t: typeof IPC_WARM_ACK;
  readonly id: number;
}
export interface IpcWarmDone {
  readonly t: typeof IPC_WARM_DONE;
  readonly id: number;
  readonly workers: number;
  readonly answered: number;
}

function isMessage<T extends { t: string; id: number }>(m: unknown, t: T['t']): m is T {
  return typeof m === 'object' && m !== null && (m as { t?: unknown }).t === t && Number.isSafeInteger((m as { id?: unknown }).id);
}
export const isIpcWarm = (m: unknown): m is IpcWarm => isMessage<IpcWarm>(m, IPC_WARM) && Array.isArray((m as IpcWarm).keys) && Array.isArray((m as IpcWarm).etags) && typeof (m as IpcWarm).bodies === 'string';
export const isIpcWarmAck = (m: unknown): m is IpcWarmAck => isMessage<IpcWarmAck>(m, IPC_WARM_ACK);
const isIpcWarmDone = (m: unknown): m is IpcWarmDone => isMessage<IpcWarmDone>(m, IPC_WARM_DONE);

/** Bodies at least this large get a Buffer of their own when unpacked (the memory tier keeps a large body as given). */
const OWN_COPY_BYTES = 64 * 1024;

export function packWarm(id: number, collection: string, records: readonly ContentRecord[]): IpcWarm {
  const typeNames: string[] = [];
  const typeIds = new Map<string, number>();
  const type: number[] = [];
  for (const r of records) {
    let t = typeIds.get(r.contentType);
    if (t === undefined) {
      t = typeNames.length;
      typeNames.push(r.contentType);
      typeIds.set(r.contentType, t);
    }
    type.push(t);
  }
  return {
    t: IPC_WARM,
    id,
    collection,
    keys: records.map((r) => r.key),
    versions: records.map((r) => r.version),
    updated: records.map((r) => r.updatedAt),
    typeNames,
    type,
    lengths: records.map((r) => r.body.length),
    etags: records.map((r) => etagNumberOfRecord(r)),
    bodies: Buffer.concat(records.map((r) => r.body)).toString('base64'),
  };
}

/** The records of a packed batch; throws a TypeError when the message does not add up (never a half batch). */
export function unpackWarm(m: IpcWarm): ContentRecord[] {
  const n = m.keys.length;
  if (m.versions.length !== n || m.updated.length !== n || m.type.length !== n || m.lengths.length !== n || m.etags.length !== n) throw new TypeError('a warm batch whose columns differ in length');
  const all = Buffer.from(m.bodies, 'base64');
  const records: ContentRecord[] = new Array<ContentRecord>(n);
  let at = 0;
  for (let i = 0; i < n; i++) {
    const length = m.lengths[i] as number;
    const contentType = m.typeNames[m.type[i] as number];
    if (typeof contentType !== 'string' || !Number.isSafeInteger(length) || length < 0 || at + length > all.length) throw new TypeError('a warm batch that does not add up');
    const view = all.subarray(at, at + length);
    at += length;
    records[i] = {
      collection: m.collection, key: m.keys[i] as string, body: length >= OWN_COPY_BYTES ? Buffer.from(view) : view,
      contentType, version: m.versions[i] as number, updatedAt: m.updated[i] as number, etag: m.etags[i] as number,
    };
  }
  return records;
}

/** How many other workers a shared batch reached. */
export interface PeersReached {
  readonly workers: number | null;
  readonly answered: number;
}

/** The other workers of this server, as the warm-up sees them. */
export interface WarmPeers {
  /**
   * Hands records to every other worker; resolves once they hold them (or the primary gave up waiting on a silent
   * one): `workers` other workers, `answered` of them in time. `workers` is null when the primary did not answer.
   */
  share(collection: string, records: readonly ContentRecord[]): Promise<PeersReached>;
  /** Registers what stores the records another worker shared (in this worker's memory tier). */
  onShared(handler: (records: ContentRecord[]) => void): void;
  close(): void;
}

/** How long a worker waits for the primary's answer: beyond the primary's own wait for the others (cluster-warm.ts). */
const DONE_WAIT_MS = 15_000;

export function openIpcWarm(channel: IpcChannel = process): WarmPeers {
  let next = 0;
  const waiting = new Map<number, (done: PeersReached) => void>();
  let handler: ((records: ContentRecord[]) => void) | undefined;
  const onMessage = (m: unknown): void => {
    if (isIpcWarmDone(m)) {
      waiting.get(m.id)?.({ workers: m.workers, answered: m.answered });
      return;
    }
    if (!isIpcWarm(m)) return;
    try {
      handler?.(unpackWarm(m));
    } catch {
      // a batch that does not add up is dropped whole (it is not acknowledged); the keys load on their first read
      return;
    }
    if (channel.connected !== false) channel.send?.({ t: IPC_WARM_ACK, id: m.id } satisfies IpcWarmAck, () => undefined);
  };
  channel.on('message', onMessage);
  return {
    share(collection, records) {
      if (records.length === 0 || channel.connected === false || !channel.send) return Promise.resolve({ workers: 0, answered: 0 });
      const id = next++;
      return new Promise((resolve) => {
        const timer = setTimeout(() => finish({ workers: null, answered: 0 }), DONE_WAIT_MS);
        const finish = (done: PeersReached): void => {
          clearTimeout(timer);
          waiting.delete(id);
          resolve(done);
        };
        waiting.set(id, finish);
        channel.send?.(packWarm(id, collection, records), (err: Error | null) => {
          if (err) finish({ workers: null, answered: 0 });
        });
      });
    },
    onShared(h) {
      handler = h;
    },
    close() {
      channel.off('message', onMessage);
      for (const finish of [...waiting.values()]) finish({ workers: null, answered: 0 });
    },
  };
}
