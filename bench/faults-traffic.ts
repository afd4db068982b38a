// The fault benchmark's traffic and its bookkeeping: writer loops that PUT numbered versions of their own keys
// (so each key's writes are sequential, and a stored body says which write it is), reader loops on the seeded
// demo content, and the audit afterwards: every acknowledged PUT (200 or 201) is looked up in the store, byte for byte, and
// read back over HTTP; a store or an answer holding an older write than the last acknowledged one is a loss.
import { Agent, request } from 'node:http';

export const COLLECTION = 'faults';

interface Acked {
  seq: number;
  body: string;
}

export interface Audit {
  acked: number;
  /** Acknowledged writes the store does not hold (missing, older, or other bytes). */
  lost: number;
  /** Keys whose HTTP read, after the fault, answered older content than the last acknowledged write. */
  stale: number;
  /** Keys whose HTTP read, after the fault, was not answered 200 at all. */
  unreadable: number;
  /** The first few lost writes: key, write number acknowledged, write number the store holds. */
  examples: string[];
}

function call(agent: Agent, base: URL, method: string, path: string, body?: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve) => {
    const req = request({ host: base.hostname, port: base.port, method, path, agent, timeout: 5000, headers: body === undefined ? {} : { 'Content-Type': 'text/plain', 'Content-Length': Buffer.byteLength(body), Authorization: `Bearer ${TOKEN}` } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
      res.on('error', () => resolve({ status: 0, body: '' }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', () => resolve({ status: 0, body: '' }));
    req.end(body);
  });
}

export const TOKEN = 'faults-admin-token';
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A body of about `size` bytes that names its key and write number. */
const bodyOf = (key: string, seq: number, size: number): string => `${key} #${seq} `.padEnd(size, '.');
const seqOf = (body: string): number => Number(/ #(\d+) /.exec(body)?.[1] ?? -1);

export class Traffic {
  requests = 0;
  failed = 0;
  /** PUTs answered 200 or 201. */
  ackedWrites = 0;
  readonly acked = new Map<string, Acked>();
  readonly #agent = new Agent({ keepAlive: true, maxSockets: 64 });
  readonly #base: URL;
  #running = true;
  readonly #loops: Promise<void>[];

  constructor(url: string, opts: { tag: string; writers?: number; readers?: number; keysPerWriter?: number; users: number; bodyBytes?: number }) {
    this.#base = new URL(url);
    const writers = opts.writers ?? 4;
    const perWriter = opts.keysPerWriter ?? 50;
    const size = opts.bodyBytes ?? 64;
    const writer = async (w: number): Promise<void> => {
      for (let seq = 0; this.#running; seq++) {
        const key = `${opts.tag}-w${w}-k${seq % perWriter}`;
        const body = bodyOf(key, seq, size);
        const r = await call(this.#agent, this.#base, 'PUT', `/v1/content/${COLLECTION}/${key}`, body);
        this.requests++;
        if (r.status === 200 || r.status === 201) {
          this.ackedWrites++;
          this.acked.set(key, { seq, body });
        }
        else {
          this.failed++;
          await sleep(20); // a failing server is not spun on
        }
      }
    };
    const reader = async (r: number): Promise<void> => {
      for (let i = r; this.#running; i += 7919) {
        const res = await call(this.#agent, this.#base, 'GET', `/data?user_id=${(i % opts.users) + 1}`);
        this.requests++;
        if (res.status !== 200) {
          this.failed++;
          await sleep(20);
        }
      }
    };
    this.#loops = [...Array.from({ length: writers }, (_, w) => writer(w)), ...Array.from({ length: opts.readers ?? 4 }, (_, r) => reader(r))];
  }

  /** Counts a request made outside the loops (a bulk import, a corpus case). */
  count(ok: boolean): void {
    this.requests++;
    if (!ok) this.failed++;
  }

  async stop(): Promise<void> {
    this.#running = false;
    await Promise.all(this.#loops);
  }

  /**
   * Every acknowledged write against the store (`stored` answers the body it holds, or undefined) and against
   * an HTTP read. Only the key's own writer wrote it, in order, so a stored write number below the acknowledged
   * one is a lost write; the same number must be the same bytes.
   */
  async audit(stored: (collection: string, key: string) => Promise<string | undefined>, url?: string): Promise<Audit> {
    let lost = 0;
    let stale = 0;
    let unreadable = 0;
    const examples: string[] = [];
    const base = url === undefined ? this.#base : new URL(url);
    for (const [key, a] of this.acked) {
      const s = await stored(COLLECTION, key);
      if (s === undefined || seqOf(s) < a.seq || (seqOf(s) === a.seq && s !== a.body)) {
        lost++;
        if (examples.length < 3) examples.push(`${key}: acknowledged #${a.seq}, store holds ${s === undefined ? 'nothing' : `#${seqOf(s)}`}`);
      }
      const r = await call(this.#agent, base, 'GET', `/v1/content/${COLLECTION}/${key}`);
      if (r.status !== 200) unreadable++;
      else if (seqOf(r.body) < a.seq || (seqOf(r.body) === a.seq && r.body !== a.body)) stale++;
    }
    this.#agent.destroy();
    return { acked: this.ackedWrites, lost, stale, unreadable, examples };
  }
}
