// Streams NDJSON or CSV records into the store in batched transactions. A malformed line is reported with
// its line number and skipped; every batch is one transaction, so a crash leaves whole batches or nothing.
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { parse } from 'csv-parse';
import { LineError, parseLine, toWrite } from './ndjson.ts';
import type { ContentWrite } from './record.ts';

export interface ImportOptions {
  file: string;
  format: 'ndjson' | 'csv';
  collection: string;
  batchSize: number;
  /** Writes one batch in one transaction. */
  write: (batch: ContentWrite[]) => Promise<void>;
  onBadLine: (line: number, message: string) => void;
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

export async function importFile(opts: ImportOptions): Promise<ImportResult> {
  const t0 = performance.now();
  const total = (await stat(opts.file)).size;
  const input = createReadStream(opts.file);
  let batch: ContentWrite[] = [];
  let imported = 0;
  let failed = 0;
  const flush = async (): Promise<void> => {
    if (batch.length === 0) return;
    await opts.write(batch);
    imported += batch.length;
    batch = [];
    opts.onProgress?.(input.bytesRead, total, imported);
  };
  const bad = (line: number, message: string): void => {
    failed++;
    opts.onBadLine(line, message);
  };

  if (opts.format === 'ndjson') {
    let lineNo = 0;
    for await (const line of createInterface({ input, crlfDelay: Infinity })) {
      lineNo++;
      if (line.trim() === '') continue;
      try {
        batch.push(parseLine(line, opts.collection, true));
      } catch (err) {
        if (!(err instanceof LineError)) throw err;
        bad(lineNo, err.message);
        continue;
      }
      if (batch.length >= opts.batchSize) await flush();
    }
  } else {
    // CSV: a header row naming the columns key and one of body/json/base64, optionally contentType, collection.
    const parser = input.pipe(parse({ columns: true, bom: true, skip_empty_lines: true, skip_records_with_error: true, info: true }));
    parser.on('skip', (err: Error & { lines?: number }) => bad(err.lines ?? 0, `malformed CSV: ${err.message}`));
    for await (const { record, info } of parser as AsyncIterable<{ record: Record<string, string>; info: { lines: number } }>) {
      try {
        const row: Record<string, unknown> = {};
        for (const [k, v] of Object.entries(record)) if (v !== '') row[k] = k === 'json' ? parseJsonCell(v) : v;
        batch.push(toWrite(row, opts.collection));
      } catch (err) {
        if (!(err instanceof LineError)) throw err;
        bad(info.lines, err.message);
        continue;
      }
      if (batch.length >= opts.batchSize) await flush();
    }
  }
  await flush();
  return { imported, failed, seconds: (performance.now() - t0) / 1000 };
}

function parseJsonCell(v: string): unknown {
  try {
    return JSON.parse(v);
  } catch {
    throw new LineError('the json column is not valid JSON');
  }
}
