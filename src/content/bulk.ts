// Streamed bulk loading, shared by POST _bulk and `floodgate import`: bytes are read chunk by chunk, split into
// lines (the NDJSON path) and written in batches of BULK_BATCH records or BULK_BATCH_BYTES, whichever comes
// first. Memory is a batch and a chunk, not the body: a whole 64 MiB body split at once used to take 1 GB.
// Between batches, and whenever parsing has run for SLICE_MS, it yields to the event loop: the embedded SQLite
// store writes synchronously, so without that a 1,000,000-line import held every read on its worker for
// seconds. Each batch is one transaction, so a failure leaves whole batches: BulkError says how many records
// were committed before it.
import { isUtf8 } from 'node:buffer';
import { BULK_BATCH, LineError, parseLine } from './ndjson.ts';
import type { ContentWrite } from './record.ts';

/** A batch is also written once its bodies reach this many bytes, so that big records do not pile up 5,000 at a time. */
export const BULK_BATCH_BYTES = 16 * 1024 * 1024;
/** Parsing yields to the event loop after running this long (ms), so that reads on the same worker get a turn. */
const SLICE_MS = 5;

export interface BulkOptions {
  /** Writes one batch in one transaction. */
  readonly write: (batch: readonly ContentWrite[]) => Promise<void>;
  readonly onBadLine: (line: number, message: string) => void;
  /** Called after every committed batch with the records committed so far. */
  readonly onBatch?: (imported: number) => void;
  readonly batchSize?: number;
  /** Why records of this collection cannot be imported (a read-only collection), or undefined; such a line is refused. */
  readonly refuse?: (collection: string) => string | undefined;
}

export interface BulkCounts {
  /** Records committed. */
  readonly imported: number;
  /** Lines refused. */
  readonly failed: number;
}

/** A bulk load stopped by `cause` (a failed write, an unreadable or oversized body) after committing `imported`. */
export class BulkError extends Error implements BulkCounts {
  override readonly name = 'BulkError';
  readonly imported: number;
  readonly failed: number;
  constructor(cause: unknown, counts: BulkCounts) {
    super(`${(cause as Error)?.message ?? String(cause)} (after ${counts.imported} records were committed)`, { cause });
    this.imported = counts.imported;
    this.failed = counts.failed;
  }
}

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** Collects writes into batches, writes each as it fills, counts, and yields between slices of work. */
export class Batcher implements BulkCounts {
  readonly #opts: BulkOptions;
  readonly #size: number;
  #batch: ContentWrite[] = [];
  #bytes = 0;
  #since = performance.now();
  imported = 0;
  failed = 0;

  constructor(opts: BulkOptions) {
    this.#opts = opts;
    this.#size = opts.batchSize ?? BULK_BATCH;
  }

  /** Adds a write; a promise when that filled the batch (await it), else undefined. */
  add(write: ContentWrite, line: number): Promise<void> | undefined {
    const refused = this.#opts.refuse?.(write.collection);
    if (refused !== undefined) return this.bad(line, refused);
    this.#batch.push(write);
    this.#bytes += write.body.length + write.key.length + write.contentType.length;
    return this.#batch.length >= this.#size || this.#bytes >= BULK_BATCH_BYTES ? this.flush() : this.breathe();
  }

  bad(line: number, message: string): Promise<void> | undefined {
    this.failed++;
    this.#opts.onBadLine(line, message);
    return this.breathe();
  }

  /** A promise to await when this slice of work has run SLICE_MS, else undefined (no cost per line beyond a clock read). */
  breathe(): Promise<void> | undefined {
    if (performance.now() - this.#since < SLICE_MS) return undefined;
    return nextTurn().then(() => {
      this.#since = performance.now();
    });
  }

  /** Writes what is batched (one transaction), then lets the event loop run. */
  async flush(): Promise<void> {
    if (this.#batch.length > 0) {
      const batch = this.#batch;
      this.#batch = [];
      this.#bytes = 0;
      await this.#opts.write(batch);
      this.imported += batch.length;
      this.#opts.onBatch?.(this.imported);
    }
    await nextTurn();
    this.#since = performance.now();
  }
}

/** A line that is only spaces, tabs and CRs (or nothing). */
function blank(line: Buffer): boolean {
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (c !== 0x20 && c !== 0x09 && c !== 0x0d) return false;
  }
  return true;
}

/** Parses one line's bytes; invalid UTF-8 is refused (it would otherwise be stored as U+FFFD). */
function parseBytes(line: Buffer, collection: string, allowCollection: boolean): ContentWrite {
  if (!isUtf8(line)) throw new LineError('the line is not valid UTF-8');
  return parseLine(line.toString('utf8'), collection, allowCollection);
}

/**
 * Loads NDJSON from `source` (a request, a file stream): every line parsed as it arrives, bad ones reported by
 * line number, good ones written in batches. Throws BulkError (with the counts so far) if a write or the
 * source fails.
 */
export async function loadNdjson(source: AsyncIterable<Buffer>, opts: BulkOptions & { collection: string; allowCollection: boolean }): Promise<BulkCounts> {
  const b = new Batcher(opts);
  let lineNo = 0;
  const one = (line: Buffer): Promise<void> | undefined => {
    lineNo++;
    if (blank(line)) return (lineNo & 1023) === 0 ? b.breathe() : undefined;
    let write: ContentWrite;
    try {
      write = parseBytes(line, opts.collection, opts.allowCollection);
    } catch (err) {
      if (!(err instanceof LineError)) throw err;
      return b.bad(lineNo, err.message);
    }
    return b.add(write, lineNo);
  };
  try {
    // A line split over chunks is kept as its pieces and joined once, at its end.
    let pieces: Buffer[] = [];
    for await (const chunk of source) {
      let from = 0;
      for (;;) {
        const nl = chunk.indexOf(0x0a, from);
        if (nl === -1) {
          if (from < chunk.length) pieces.push(chunk.subarray(from));
          break;
        }
        if (nl === from && pieces.length === 0) {
          // An empty line: counted without making a Buffer of it (64 MiB of newlines is 67 million of them).
          from = nl + 1;
          if ((++lineNo & 1023) === 0) {
            const wait = b.breathe();
            if (wait) await wait;
          }
          continue;
        }
        let line = chunk.subarray(from, nl);
        if (pieces.length > 0) {
          pieces.push(line);
          line = Buffer.concat(pieces);
          pieces = [];
        }
        from = nl + 1;
        const wait = one(line);
        if (wait) await wait;
      }
    }
    if (pieces.length > 0) {
      const wait = one(Buffer.concat(pieces));
      if (wait) await wait;
    }
    await b.flush();
  } catch (err) {
    throw new BulkError(err, b);
  }
  return { imported: b.imported, failed: b.failed };
}
