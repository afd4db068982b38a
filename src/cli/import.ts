// floodgate import FILE: load NDJSON or CSV content straight into the store.
import { BulkError } from '../content/bulk.ts';
import { CollectionsError, loadCollections, type CollectionDef } from '../content/collections.ts';
import { CsvHeaderError, STDIN, formatOf, importFile } from '../content/importer.ts';
import { collectionProblem } from '../content/keys.ts';
import { BULK_BATCH } from '../content/ndjson.ts';
import { DEFAULT_COLLECTION } from '../content/record.ts';
import { batchTimeoutMs, openStore, storeOptions } from '../store/open.ts';
import { configFromArgs } from './config-args.ts';
import type { Command } from './main.ts';

const HELP = `floodgate import: load NDJSON or CSV content into the store, in batched transactions.

Usage: floodgate import FILE [--collection NAME] [--format ndjson|csv] [--batch N] [store options]
       FILE - reads standard input (NDJSON unless --format csv): producer | floodgate import - --collection recs

NDJSON: one object a line: {"key":"42","body":"text"} | {"key":"42","json":{…}} | {"key":"42","base64":"…"},
        optional "contentType" and "collection" (default the --collection option).
CSV:    a header row naming the columns: key, and one of body/json/base64; optional contentType, collection.

A malformed line (bad JSON or CSV, invalid UTF-8, a bad key or content type) is reported with its line number
and skipped; the rest is imported. Each batch is one transaction, so an import that fails or is interrupted
leaves the batches before it committed, never half a batch: a failure says how many records were committed.

The store is the one floodgate serve uses: --data-dir (SQLite, default ./data) or DATABASE_URL (PostgreSQL).
Servers on PostgreSQL see the imported content at once (change feed); servers on the embedded SQLite store
see it as their cached copies expire (TTL), or at once for keys they have not cached.

Give the collections file serve uses (--collections FILE or FLOODGATE_COLLECTIONS) and records for its
read-only collections (a "query" or an "origin": served from there, never from what is imported) are refused:
--collection naming one is an error, a line naming one is a bad line.

Options:
  --collection NAME   collection for records that name none (default default)
  --format F          ndjson or csv (default from the file name, .csv = csv)
  --batch N           records per transaction (default ${BULK_BATCH})
  --collections FILE  the collections file: refuse records for its read-only collections
  --data-dir, --database-url, --db-schema, --db-pool   as for floodgate serve

Example:
  floodgate import offers.ndjson --collection offers
`;

/** Why records of `collection` cannot be imported (served from a query or an origin), or undefined. */
export function readOnlyProblem(def: CollectionDef | undefined): string | undefined {
  if (def?.query !== undefined) return `collection ${def.name} is read-only (served from its SQL query in the collections file): what is imported into it would never be served`;
  if (def?.origin !== undefined) return `collection ${def.name} is read-only (served from its origin in the collections file): what is imported into it would never be served`;
  return undefined;
}

const LISTED_BAD_LINES = 20;

export const command: Command = {
  summary: 'import NDJSON or CSV content into the store',
  async run(argv) {
    if (argv.includes('--help') || argv.includes('-h')) return configFromArgs('import', ['--help'], HELP) as number;
    const [file, ...rest] = argv;
    if (file === undefined || (file.startsWith('-') && file !== STDIN)) {
      process.stderr.write('floodgate import: name the file to import (floodgate import --help)\n');
      return 2;
    }
    const loaded = configFromArgs('import', rest, HELP, { collection: true, format: true, batch: true });
    if (typeof loaded === 'number') return loaded;
    const { config, extra } = loaded;
    const collection = typeof extra.collection === 'string' ? extra.collection : DEFAULT_COLLECTION;
    const cp = collectionProblem(collection);
    const batchSize = extra.batch === undefined ? BULK_BATCH : Number(extra.batch);
    let format: 'ndjson' | 'csv';
    try {
      format = formatOf(file, typeof extra.format === 'string' ? extra.format : undefined);
      if (cp) throw new Error(`--collection: ${cp}`);
      if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > 100_000) throw new Error('--batch must be a whole number from 1 to 100000');
    } catch (err) {
      process.stderr.write(`floodgate import: ${(err as Error).message}\n`);
      return 2;
    }

    let collections: Map<string, CollectionDef>;
    try {
      collections = await loadCollections(config.collections, config.ttl, { deadlineMs: config.deadline });
      const problem = readOnlyProblem(collections.get(collection));
      if (problem) throw new CollectionsError(`--collection: ${problem}`);
    } catch (err) {
      if (!(err instanceof CollectionsError)) throw err;
      process.stderr.write(`floodgate import: ${err.message}; nothing was imported\n`);
      return 2;
    }

    const store = await openStore(storeOptions(config, { queueTimeoutMs: batchTimeoutMs(config) }));
    const tty = process.stderr.isTTY;
    let listed = 0;
    try {
      const result = await importFile({
        file,
        format,
        collection,
        batchSize,
        write: async (batch) => {
          await store.putMany(batch);
        },
        refuse: (c) => readOnlyProblem(collections.get(c)),
        onBadLine: (line, message) => {
          if (listed++ < LISTED_BAD_LINES) process.stderr.write(`${tty ? '\r\x1b[K' : ''}${file}:${line}: ${message}\n`);
        },
        onProgress: tty ? (read, total, imported) => process.stderr.write(total > 0 ? `\r${bar(read / total)} ${records(imported)}` : `\r${records(imported)}`) : undefined,
      });
      if (tty) process.stderr.write('\r\x1b[K');
      if (listed > LISTED_BAD_LINES) process.stderr.write(`… and ${badLines(listed - LISTED_BAD_LINES, 'more bad line')}\n`);
      const rate = Math.round(result.imported / Math.max(result.seconds, 0.001));
      process.stdout.write(`imported ${records(result.imported)} into ${store.kind} in ${result.seconds.toFixed(2)} s (${rate}/s); ${badLines(result.failed, 'bad line')} skipped\n`);
      return result.failed > 0 && result.imported === 0 ? 1 : 0;
    } catch (caught) {
      if (caught instanceof CsvHeaderError) {
        if (tty) process.stderr.write('\r\x1b[K');
        process.stderr.write(`floodgate import: ${file === STDIN ? 'stdin' : file}: ${caught.message}; nothing was imported\n`);
        return 2;
      }
      let err = caught;
      if (caught instanceof BulkError) {
        if (tty) process.stderr.write('\r\x1b[K');
        err = caught.cause;
        const code = (err as NodeJS.ErrnoException).code;
        if (!(code === 'ENOENT' || code === 'EISDIR' || code === 'EACCES')) {
          process.stderr.write(`floodgate import: stopped by an error after committing ${records(caught.imported)} (${badLines(caught.failed, 'bad line')} skipped); the records before it stay imported: ${(err as Error).message}\n`);
          return 1;
        }
      }
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'EISDIR' || code === 'EACCES') {
        process.stderr.write(`floodgate import: cannot read ${file}: ${(err as Error).message}\n`);
        return 1;
      }
      throw err;
    } finally {
      await store.close();
    }
  },
};

/** "1 record", "2 records". */
function records(n: number): string {
  return `${n} record${n === 1 ? '' : 's'}`;
}

/** "1 bad line", "3 bad lines" (`what` is singular). */
function badLines(n: number, what: string): string {
  return `${n} ${what}${n === 1 ? '' : 's'}`;
}

function bar(fraction: number): string {
  const width = 30;
  const done = Math.round(Math.min(1, fraction) * width);
  return `[${'#'.repeat(done)}${'.'.repeat(width - done)}] ${(fraction * 100).toFixed(0).padStart(3)}%`;
}
