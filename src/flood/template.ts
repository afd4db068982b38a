// Templates: the randomised parts of a request. `{{int 1 100000}}`, `{{pick a b c}}`, `{{seq 1}}`,
// `{{csv users.csv user_id}}`, `{{uuid}}` may appear in the URL's path and query, in header values and in the body.
//
// A template is parsed once, in the main thread, into a plain serialisable spec (CSV columns inlined), so worker
// threads rebuild the same generators without touching the file system. Text without any {{…}} is static and lets
// the request be pre-built into one Buffer.
import { randomUUID } from 'node:crypto';
import { csvColumn, readCsvFile, type CsvTable } from './csv.ts';
import { UsageError } from './usage.ts';

export type TemplatePart =
  | { readonly kind: 'text'; readonly text: string }
  | { readonly kind: 'int'; readonly min: number; readonly max: number }
  | { readonly kind: 'pick'; readonly items: readonly string[] }
  | { readonly kind: 'seq'; readonly key: string; readonly start: number; readonly step: number }
  | { readonly kind: 'csv'; readonly file: string; readonly values: readonly string[] }
  | { readonly kind: 'uuid' };

export interface TemplateSpec {
  readonly source: string;
  readonly parts: readonly TemplatePart[];
}

export const TEMPLATE_FUNCTIONS = ['int', 'pick', 'seq', 'csv', 'uuid'] as const;

/** Splits the inside of {{…}} into words; "double quotes" keep spaces inside one word. */
function words(inner: string, where: string): string[] {
  const out: string[] = [];
  const re = /\s*(?:"((?:[^"\\]|\\.)*)"|(\S+))/gy;
  let m: RegExpExecArray | null;
  let at = 0;
  while ((m = re.exec(inner)) !== null) {
    if (m[0].trim() === '') break;
    out.push(m[1] !== undefined ? m[1].replace(/\\(.)/g, '$1') : (m[2] ?? ''));
    at = re.lastIndex;
  }
  if (inner.slice(at).trim() !== '') throw new UsageError(`${where}: cannot read '{{${inner}}}' (unbalanced quotes?)`);
  return out;
}

function integer(text: string | undefined, fn: string, where: string): number {
  const n = text !== undefined && /^-?\d+$/.test(text) ? Number(text) : Number.NaN;
  if (!Number.isSafeInteger(n)) throw new UsageError(`${where}: {{${fn} …}} expects whole numbers, got '${text ?? ''}'`);
  return n;
}

/**
 * Parses a template. `where` names the place for error messages ("URL", "header x-id", "body"); `csvCache`
 * lets several {{csv}} parts share one read of the same file.
 */
export function parseTemplate(source: string, where: string, csvCache = new Map<string, CsvTable>()): TemplateSpec {
  const parts: TemplatePart[] = [];
  let at = 0;
  while (at < source.length) {
    const open = source.indexOf('{{', at);
    if (open < 0) break;
    const close = source.indexOf('}}', open + 2);
    if (close < 0) throw new UsageError(`${where}: '{{' at position ${open + 1} is never closed with '}}'`);
    if (open > at) parts.push({ kind: 'text', text: source.slice(at, open) });
    const inner = source.slice(open + 2, close);
    const [fn, ...args] = words(inner, where);
    parts.push(templateFunction(fn ?? '', args, inner, where, csvCache));
    at = close + 2;
  }
  if (at < source.length) parts.push({ kind: 'text', text: source.slice(at) });
  return { source, parts };
}

function templateFunction(fn: string, args: string[], inner: string, where: string, csvCache: Map<string, CsvTable>): TemplatePart {
  switch (fn) {
    case 'int': {
      if (args.length !== 2) throw new UsageError(`${where}: {{int MIN MAX}} takes two numbers, got '{{${inner}}}'`);
      const min = integer(args[0], 'int', where);
      const max = integer(args[1], 'int', where);
      if (max < min) throw new UsageError(`${where}: {{int ${min} ${max}}}: MAX is smaller than MIN`);
      return { kind: 'int', min, max };
    }
    case 'pick':
      if (args.length === 0) throw new UsageError(`${where}: {{pick A B …}} needs at least one value`);
      return { kind: 'pick', items: args };
    case 'seq': {
      if (args.length > 2) throw new UsageError(`${where}: {{seq [START] [STEP]}} takes at most two numbers, got '{{${inner}}}'`);
      const start = args[0] === undefined ? 1 : integer(args[0], 'seq', where);
      const step = args[1] === undefined ? 1 : integer(args[1], 'seq', where);
      if (step === 0) throw new UsageError(`${where}: {{seq ${start} 0}}: STEP must not be 0`);
      return { kind: 'seq', key: `${start} ${step}`, start, step };
    }
    case 'csv': {
      const [file, column] = args;
      if (args.length !== 2 || file === undefined || column === undefined) {
        throw new UsageError(`${where}: {{csv FILE COLUMN}} takes a file and a column name (or 1-based position), got '{{${inner}}}'`);
      }
      let table = csvCache.get(file);
      if (!table) {
        table = readCsvFile(file);
        csvCache.set(file, table);
      }
      return { kind: 'csv', file, values: csvColumn(table, file, column) };
    }
    case 'uuid':
      if (args.length !== 0) throw new UsageError(`${where}: {{uuid}} takes no arguments`);
      return { kind: 'uuid' };
    default:
      throw new UsageError(`${where}: unknown template function '${fn}' in '{{${inner}}}' (known: ${TEMPLATE_FUNCTIONS.join(', ')})`);
  }
}

export function isStatic(spec: TemplateSpec): boolean {
  return spec.parts.every((p) => p.kind === 'text');
}

/**
 * The per-request state shared by every template of one request: `{{seq}}` parts with the same START and STEP
 * give the same value within a request, and all `{{csv}}` parts of one file read the same row, so columns stay
 * correlated. Sequences and rows are interleaved across threads (thread i of n takes positions i, i+n, i+2n, …),
 * so values stay unique across threads.
 */
export class TemplateContext {
  readonly #thread: number;
  readonly #threads: number;
  #round = -1;
  readonly #seqCounters = new Map<string, number>();
  readonly #csvCounters = new Map<string, number>();
  readonly #seqValues = new Map<string, number>();
  readonly #csvRows = new Map<string, number>();
  /** The source of `{{int}}` and `{{pick}}` values: Math.random, or a seeded generator (flood --campaign --seed). */
  readonly random: () => number;

  constructor(thread = 0, threads = 1, random: () => number = Math.random) {
    this.#thread = thread;
    this.#threads = threads;
    this.random = random;
  }

  /** Starts a new request: sequences and CSV rows advance once. */
  next(): void {
    this.#round++;
    this.#seqValues.clear();
    this.#csvRows.clear();
  }

  seq(part: { key: string; start: number; step: number }): number {
    let v = this.#seqValues.get(part.key);
    if (v === undefined) {
      const k = this.#seqCounters.get(part.key) ?? 0;
      this.#seqCounters.set(part.key, k + 1);
      v = part.start + part.step * (this.#thread + this.#threads * k);
      this.#seqValues.set(part.key, v);
    }
    return v;
  }

  csvRow(file: string, rows: number): number {
    let r = this.#csvRows.get(file);
    if (r === undefined) {
      const k = this.#csvCounters.get(file) ?? 0;
      this.#csvCounters.set(file, k + 1);
      r = (this.#thread + this.#threads * k) % rows;
      this.#csvRows.set(file, r);
    }
    return r;
  }

  get round(): number {
    return this.#round;
  }
}

export type Encoder = (value: string) => string;
const identity: Encoder = (v) => v;

/** Compiles a spec into a function that renders it for the current request of `ctx`. */
export function compileTemplate(spec: TemplateSpec, ctx: TemplateContext, encode: Encoder = identity): () => string {
  const renderers = spec.parts.map((part): (() => string) => {
    switch (part.kind) {
      case 'text': {
        const text = part.text;
        return () => text;
      }
      case 'int': {
        const { min } = part;
        const span = part.max - part.min + 1;
        const random = ctx.random;
        return () => String(min + Math.floor(random() * span));
      }
      case 'pick': {
        const items = part.items.map(encode);
        const random = ctx.random;
        return () => items[Math.floor(random() * items.length)] ?? '';
      }
      case 'seq':
        return () => String(ctx.seq(part));
      case 'csv': {
        const values = part.values.map(encode);
        return () => values[ctx.csvRow(part.file, values.length)] ?? '';
      }
      case 'uuid':
        return () => randomUUID();
    }
  });
  if (renderers.length === 1 && renderers[0]) return renderers[0];
  return () => {
    let out = '';
    for (const r of renderers) out += r();
    return out;
  };
}

/**
 * Makes a value safe inside a request-target: characters that would break the request line (spaces, controls,
 * non-ASCII, quotes, angle brackets, braces, …) are percent-encoded; '/', '?', '&', '=' and '%' are kept, so
 * values that are paths or already encoded pass through unchanged.
 */
export function encodeTargetValue(value: string): string {
  if (!/[\u0000-\u0020"<>\\^`{|}\u007f-\uffff]/.test(value)) return value;
  let out = '';
  for (const ch of value) {
      out += /[\u0000-\u0020"<>\\^`{|}\u007f-\uffff]/.test(ch) ? encodeURIComponent(ch) : ch;
  }
  return out;
}

/** Header values may not contain CR or LF; they are replaced by spaces. */
export function encodeHeaderValue(value: string): string {
  return value.includes('\r') || value.includes('\n') ? value.replace(/[\r\n]+/g, ' ') : value;
}
