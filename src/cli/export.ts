// floodgate export: write one collection as NDJSON, one record a line, in the form `import` and `_bulk` read
// back. Streamed: pages of the store's version index, each record read and written with backpressure, so
// memory stays flat whatever the collection's size.
import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import { DEFAULT_COLLECTION } from '../content/record.ts';
import { openStore } from '../store/open.ts';
import { configFromArgs } from './config-args.ts';
import type { Command } from './main.ts';

const HELP = `floodgate export: write a collection as NDJSON (one record a line), in the form import reads.

Usage: floodgate export [--collection NAME] [--out FILE] [--data-dir DIR | DATABASE_URL=postgres://…]

  --collection NAME   the collection to write (default default)
  --out FILE          where to write it; '-' or none = stdout

Each line is {"key":"…","body":"…","contentType":"…"} (text) or {"key":"…","base64":"…","contentType":"…"}
(bytes that are not UTF-8). Records are written in the order they were last written; a record written while
the export runs may appear twice (import keeps the last). A summary goes to stderr.

Example:
  floodgate export --collection offers --out offers.ndjson && floodgate import offers.ndjson --collection offers
`;

const PAGE = 1000;

export const command: Command = {
  summary: 'write a collection as NDJSON',
  async run(argv) {
    const loaded = configFromArgs('export', argv, HELP, { collection: true, out: true });
    if (typeof loaded === 'number') return loaded;
    const { config, extra } = loaded;
    const collection = typeof extra['collection'] === 'string' ? extra['collection'] : DEFAULT_COLLECTION;
    const to = typeof extra['out'] === 'string' && extra['out'] !== '-' ? extra['out'] : undefined;
    const store = await openStore({ databaseUrl: config.databaseUrl, dataDir: config.dataDir, poolSize: 1, queueTimeoutMs: 30_000, schema: config.dbSchema });
    const out = to === undefined ? process.stdout : createWriteStream(to);
    let written = 0;
    try {
      let since = 0;
      for (;;) {
        const page = await store.changesSince(since, PAGE);
        if (page.length === 0) break;
        for (const change of page) {
          since = Math.max(since, change.version);
          if (change.deleted || change.collection !== collection) continue;
          const record = await store.get(collection, change.key);
          if (record === undefined) continue;
          const text = record.body.toString('utf8');
          const line = Buffer.from(text, 'utf8').equals(record.body)
            ? { key: record.key, body: text, contentType: record.contentType }
            : { key: record.key, base64: record.body.toString('base64'), contentType: record.contentType };
          if (!out.write(`${JSON.stringify(line)}\n`)) await once(out, 'drain');
          written++;
        }
      }
    } finally {
      await store.close();
      if (to !== undefined) await new Promise<void>((resolve) => out.end(resolve));
    }
    process.stderr.write(`exported ${written} record${written === 1 ? '' : 's'} of collection ${collection}${to ? ` to ${to}` : ''}\n`);
    return 0;
  },
};
