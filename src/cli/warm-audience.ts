// The audience of `floodgate warm`: which keys to warm, from a file of ids (one a line, or a CSV column), standard
// input, or a numeric range. A file is read twice: once to count and check every key (a bad one is an error before
// anything is warmed), once to send them; standard input is read once, so its total is unknown until it ends.
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { parse } from 'csv-parse';
import { keyProblem } from '../content/keys.ts';

/** A problem with the audience as given (a missing file, a bad key, a CSV without the column): exit status 2. */
export class AudienceError extends Error {
  override readonly name = 'AudienceError';
}

export interface Audience {
  /** How it was given, for messages: "ids.txt", "standard input", "the range 1-1000". */
  readonly describe: string;
  /** The number of keys, when known before they are read (not for standard input). */
  readonly total: number | undefined;
  /** The keys in order. A bad key found on the way (standard input only) throws AudienceError. */
  keys(): AsyncIterable<string>;
}

export const STDIN = '-';
/** The CSV column the ids are read from when --column names none: the importer's key column. */
export const DEFAULT_COLUMN = 'key';
/** The widest --range: beyond it a typo (an extra digit) is likelier than an audience. */
const MAX_RANGE = 1_000_000_000;

/** --range A-B: the decimal keys A..B (what `floodgate seed` writes: user ids 1..N). */
export function rangeAudience(text: string): Audience {
  const m = /^\s*(\d[\d_]*)\s*(?:-|\.\.)\s*(\d[\d_]*)\s*$/.exec(text);
  if (!m) throw new AudienceError(`--range: '${text}' is not a range of ids; write FIRST-LAST, e.g. --range 1-1000000`);
  const from = Number((m[1] as string).replaceAll('_', ''));
  const to = Number((m[2] as string).replaceAll('_', ''));
  if (!Number.isSafeInteger(from) || !Number.isSafeInteger(to)) throw new AudienceError(`--range: '${text}': the numbers are too large`);
  if (to < from) throw new AudienceError(`--range: '${text}': the last id is below the first`);
  if (to - from + 1 > MAX_RANGE) throw new AudienceError(`--range: '${text}' spans ${to - from + 1} ids; at most ${MAX_RANGE} a run`);
  return {
    describe: `the range ${from}-${to}`,
    total: to - from + 1,
    async *keys() {
      for (let id = from; id <= to; id++) yield String(id);
    },
  };
}

/** One key a line, or (.csv, or --column) a CSV column. Checks the whole file now; `-` reads standard input. */
export async function fileAudience(file: string, column: string | undefined): Promise<Audience> {
  const csv = column !== undefined || /\.csv$/i.test(file);
  const col = column ?? DEFAULT_COLUMN;
  if (file === STDIN) {
    return { describe: 'standard input', total: undefined, keys: () => read(process.stdin, 'standard input', csv, col) };
  }
  try {
    const st = await stat(file);
    if (st.isDirectory()) throw new AudienceError(`--ids: ${file} is a directory; name a file of ids (one a line)`);
  } catch (err) {
    if (err instanceof AudienceError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    throw new AudienceError(`--ids: cannot read ${file}: ${code === 'ENOENT' ? 'no such file' : (err as Error).message}`);
  }
  let total = 0;
  for await (const key of read(open(file), file, csv, col)) if (key.length > 0) total++;
  return { describe: file, total, keys: () => read(open(file), file, csv, col) };
}

function open(file: string): NodeJS.ReadableStream {
  return createReadStream(file);
}

async function* read(input: NodeJS.ReadableStream, name: string, csv: boolean, column: string): AsyncGenerator<string> {
  try {
    if (csv) yield* readCsv(input, name, column);
    else yield* readLines(input, name);
  } catch (err) {
    if (err instanceof AudienceError) throw err;
    throw new AudienceError(`--ids: cannot read ${name}: ${(err as Error).message}`);
  }
}

async function* readLines(input: NodeJS.ReadableStream, name: string): AsyncGenerator<string> {
  const lines = createInterface({ input, crlfDelay: Infinity });
  let n = 0;
  for await (const raw of lines) {
    n++;
    const key = n === 1 ? raw.replace(/^\uFEFF/, '') : raw;
    if (key.trim() === '') continue; // blank lines (a trailing one, most often)
    const problem = keyProblem(key);
    if (problem) throw new AudienceError(`${name}:${n}: ${problem}${/\s/.test(key) ? ' (the line has spaces: one id a line, nothing else)' : ''}`);
    yield key;
  }
}

async function* readCsv(input: NodeJS.ReadableStream, name: string, column: string): AsyncGenerator<string> {
  const parser = input.pipe(parse({ bom: true, skip_empty_lines: true, relax_column_count: true, info: true }));
  let at = -1;
  try {
    for await (const { record, info } of parser as AsyncIterable<{ record: string[]; info: { lines: number } }>) {
      if (at < 0) {
        at = record.indexOf(column);
        if (at < 0) throw new AudienceError(`${name}:${info.lines}: the header row names ${record.map((h) => JSON.stringify(h)).join(', ') || 'no columns'}, not ${JSON.stringify(column)}; name the ids' column with --column`);
        continue;
      }
      const key = record[at] ?? '';
      const problem = key === '' ? `the ${column} column is empty` : keyProblem(key);
      if (problem) throw new AudienceError(`${name}:${info.lines}: ${problem}`);
      yield key;
    }
  } catch (err) {
    if (err instanceof AudienceError) throw err;
    throw new AudienceError(`${name}: malformed CSV: ${(err as Error).message}`);
  }
}
