// A small closed-loop load for the degradation tests: `workers` concurrent loops of GETs on keep-alive
// connections until stopped, counting every answer by status (and transport errors as status 0).
import { Agent, request } from 'node:http';

export class Load {
  readonly statuses = new Map<number, number>();
  /** For answers that were not 2xx: "<status> <X-Degraded-Reason or error code>", counted. */
  readonly why = new Map<string, number>();
  readonly #agent: Agent;
  #running = true;
  readonly #loops: Promise<void>[];

  /** Starts at once; `path()` gives each request's path (e.g. a random key). */
  constructor(base: string, path: () => string, workers = 16) {
    const url = new URL(base);
    this.#agent = new Agent({ keepAlive: true, maxSockets: workers });
    const note = (why: string): void => void this.why.set(why, (this.why.get(why) ?? 0) + 1);
    const once = (): Promise<number> =>
      new Promise((resolve) => {
        const req = request({ host: url.hostname, port: url.port, path: path(), agent: this.#agent, timeout: 10_000 }, (res) => {
          const status = res.statusCode ?? 0;
          let body = '';
          if (status >= 300) res.on('data', (d: Buffer) => (body += d.toString()));
          else res.resume();
          res.once('end', () => {
            if (status >= 300) note(`${status} ${String(res.headers['x-degraded-reason'] ?? '')} ${body.slice(0, 120)}`);
            resolve(status);
          });
          res.once('error', (err) => {
            note(`0 ${err.message}`);
            resolve(0);
          });
        });
        req.once('timeout', () => req.destroy(new Error('timeout')));
        req.once('error', (err) => {
          note(`0 ${err.message}`);
          resolve(0);
        });
        req.end();
      });
    this.#loops = Array.from({ length: workers }, async () => {
      while (this.#running) {
        const status = await once();
        this.statuses.set(status, (this.statuses.get(status) ?? 0) + 1);
      }
    });
  }

  get total(): number {
    let n = 0;
    for (const v of this.statuses.values()) n += v;
    return n;
  }

  /** Answers that were not 2xx (5xx, 4xx, transport errors), by status. */
  failures(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [status, n] of this.statuses) if (status < 200 || status >= 300) out[String(status)] = n;
    return out;
  }

  async stop(): Promise<void> {
    this.#running = false;
    await Promise.all(this.#loops);
    this.#agent.destroy();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }
}
