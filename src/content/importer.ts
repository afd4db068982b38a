// Streams NDJSON or CSV records from a file into the store in batched transactions (bulk.ts). A malformed line is
// reported with its line number and skipped; every batch is one transaction, so a crash or a failed write leaves
// the batches before it committed (BulkError says how many records) and never half a batch.
import { isUtf8 } from 'node:buffer';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { parse } from 'csv-parse';
import { Batcher, BulkError, loadNdjson, type BulkCounts, type BulkOptions } from './bulk.ts';
import { LineError, toWrite } from './ndjson.ts';
import type { ContentWrite } from './record.ts';

export interface ImportOptions {
  file: string;
  format: 'ndjson' | 'csv';
  collection: string;
  batchSize: number;
  /** Writes one batch in one transaction. */
  write: (batch: readonly ContentWrite[]) => Promise<void>;
  onBadLine: (line: number, message: string) => void;
  /** Why records of a collection cannot be imported (a read-only collection), or undefined; such lines are refused. */
  refuse?: (collection: string) => string | undefined;
  /** Called after every batch with bytes read so far, the file size and records written. */
  onProgress?: (bytesRead: number, totalBytes: number, imported: number) => void;
}

export interface ImportResult {
  imported: number;
  failed: number;
  seconds: number;
}

export function formatOf(file: string, given: string | undefined): 'ndjson' | 'csv' {
  if (given === 'ndjson' || given === 'csv') return given;
  if (given !== undefined) throw new Error(`--format must be ndjson or csv (got ${given})`);
  return /\.csv$/i.test(file) ? 'csv' : 'ndjson';
}

/** A CSV whose header row cannot describe a record: one error for the file, not one per row. */
export class CsvHeaderError extends Error {
  override readonly name = 'CsvHeaderError';
}

/** The file `-` is standard input (its size unknown: progress then counts records only). */
export const STDIN = '-';

export async function importFile(opts: ImportOptions): Promise<ImportResult> {
  const t0 = performance.now();
  const fromStdin = opts.file === STDIN;
  const total = fromStdin ? 0 : (await stat(opts.file)).size;
  const input = fromStdin ? process.stdin : createReadStream(opts.file);
  const bulk: BulkOptions = {
    write: opts.write,
    onBadLine: opts.onBadLine,
    batchSize: opts.batchSize,
    onBatch: (imported) => opts.onProgress?.('bytesRead' in input ? input.bytesRead : 0, total, imported),
    refuse: opts.refuse,
  };
  try {
    const counts = opts.format === 'ndjson' ? await loadNdjson(input, { ...bulk, collection: opts.collection, allowCollection: true }) : await loadCsv(input, bulk, opts.collection);
    return { ...counts, seconds: (performance.now() - t0) / 1000 };
  } finally {
    if (!fromStdin) input.destroy();
  }
}

/**
 * CSV: a header row naming the columns key and one of body/json/base64, optionally contentType, collection.
 * Fields are read as bytes, so that a row with invalid UTF-8 is refused by its line number, not stored as U+FFFD.
 */
async function loadCsv(input: NodeJS.ReadableStream, opts: BulkOptions, collection: string): Promise<BulkCounts> {
  const b = new Batcher(opts);
  const parser = input.pipe(parse({ columns: false, encoding: null, bom: true, skip_empty_lines: true, skip_records_with_error: true, info: true }));
  parser.on('skip', (err: Error & { lines?: number }) => void b.bad(err.lines ?? 0, `malformed CSV: ${err.message}`));
  let header: string[] | undefined;
  try {
    for await (const { record, info } of parser as AsyncIterable<{ record: Buffer[]; info: { lines: number } }>) {
      let write: ContentWrite;
      try {
        if (record.some((field) => !isUtf8(field))) throw new LineError('the row is not valid UTF-8');
        const fields = record.map((field) => field.toString('utf8'));
        if (header === undefined) {
          header = fields;
          const problem = headerProblem(header);
          if (problem) throw new CsvHeaderError(`line ${info.lines}: ${problem}`);
          continue;
        }
        const row: Record<string, unknown> = {};
        fields.forEach((v, i) => {
          const k = (header as string[])[i] as string;
          if (v !== '') row[k] = k === 'json' ? parseJsonCell(v) : v;
        });
        write = toWrite(row, collection);
      } catch (err) {
        if (!(err instanceof LineError)) throw err;
        const wait = b.bad(info.lines, err.message);
        if (wait) await wait;
        continue;
      }
      const wait = b.add(write, info.lines);
      if (wait) await wait;
    }
    await b.flush();
  } catch (err) {
    if (err instanceof CsvHeaderError) throw err;
    throw new BulkError(err, b);
  }
  return { imported: b.imported, failed: b.failed };
}

const CONTENT_COLUMNS = ['body', 'json', 'base64'];

/** What is wrong with a CSV header row, or undefined: it must name key and one of body/json/base64. */
function headerProblem(header: readonly string[]): string | undefined {
  const named = `the header row names ${header.map((h) => JSON.stringify(h)).join(', ') || 'no columns'}`;
  if (!header.includes('key')) return `${named}: it needs a "key" column (and one of ${CONTENT_COLUMNS.join(', ')})`;
  if (!CONTENT_COLUMNS.some((c) => header.includes(c))) return `${named}: it needs one of ${CONTENT_COLUMNS.join(', ')} beside "key"`;
  return undefined;
}

function parseJsonCell(v: string): unknown {
  try {
    return JSON.parse(v);
  } catch {
    throw new LineError('the json column is not valid JSON');
  }
}
