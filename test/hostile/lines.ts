// Generated bulk input for the importer suites (HTTP _bulk, `floodgate import` NDJSON and CSV): each line or
// row comes with what the documented format says must happen to it, and `judge` checks an importer's report
// and the store against that.
//   good    must be imported, and read back byte for byte with its Content-Type
//   bad     must be refused (reported with its line number), and nothing stored for it
//   either  outside the grammar but harmless (a malformed yet sendable media type): refused, or kept as given
//   blank   skipped, counted in the line numbers
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { anyKey, goodCollection, goodKey, goodMediaType, malformedMediaType, unsendableMediaType, validKey } from './inputs.ts';

export interface Stored {
  collection: string | undefined;
  key: string;
  body: Buffer;
  contentType: string;
}
export interface Line {
  bytes: Buffer;
  kind: 'good' | 'bad' | 'either' | 'blank';
  /** What a good or either line stores (collection undefined: the import's default). */
  record?: Stored;
}

const TEXT = 'text/plain; charset=utf-8';
const JSON_TYPE = 'application/json';
const OCTETS = 'application/octet-stream';

const payload = fc.oneof(
  fc.oneof(fc.string({ unit: 'binary', maxLength: 80 }), fc.constantFrom('line\u2028separator', 'para\u2029graph', '\u0000', '\r\n')).map((s) => ({ field: { body: s }, body: Buffer.from(s), type: TEXT })),
  fc.jsonValue({ maxDepth: 2 }).map((v) => ({ field: { json: v }, body: Buffer.from(JSON.stringify(JSON.parse(JSON.stringify(v)))), type: JSON_TYPE })),
  fc.uint8Array({ maxLength: 60 }).map((b) => ({ field: { base64: Buffer.from(b).toString('base64') }, body: Buffer.from(b), type: OCTETS })),
);
const safeInt = fc.oneof(fc.integer({ min: -1000, max: 100_000 }), fc.maxSafeInteger(), fc.constantFrom(Number.MAX_SAFE_INTEGER, -Number.MAX_SAFE_INTEGER));
const lineOf = (kind: Line['kind'], text: string | Buffer, record?: Stored): Line => ({ kind, bytes: typeof text === 'string' ? Buffer.from(text) : text, record });

/** One NDJSON line; `collections`: whether a "collection" field is allowed (floodgate import) or refused (_bulk). */
export function ndjsonLine(collections: boolean): fc.Arbitrary<Line> {
  const good = fc
    .record({
      key: fc.oneof({ weight: 4, arbitrary: goodKey.map((k) => ({ json: k as string | number, key: k })) }, { weight: 1, arbitrary: safeInt.map((n) => ({ json: n as string | number, key: String(n) })) }),
      payload,
      type: fc.option(fc.oneof({ weight: 4, arbitrary: goodMediaType.map((v) => ({ v, good: true })) }, { weight: 1, arbitrary: malformedMediaType.map((v) => ({ v, good: false })) }), { nil: undefined }),
      collection: collections ? fc.option(goodCollection, { nil: undefined }) : fc.constant(undefined),
      crlf: fc.boolean(),
    })
    .map(({ key, payload: p, type, collection, crlf }) => {
      const obj = { key: key.json, ...p.field, ...(type ? { contentType: type.v } : {}), ...(collection ? { collection } : {}) };
      const record = { collection, key: key.key, body: p.body, contentType: type?.v ?? p.type };
      return lineOf(type && !type.good ? 'either' : 'good', JSON.stringify(obj) + (crlf ? '\r' : ''), record);
    });
  const bad = fc.oneof(
    // not JSON, or not an object
    fc.constantFrom('{', '{"key":', 'nope', '{"key":"a","body":"x"', "{'key':'a','body':'x'}", '{"key":"a","body":"x"}}', '[1,2]', '"x"', '42', 'null', 'true', '{"key":"a","body":"x",}', '\u0000', '{"key":"a" "body":"x"}'),
    fc.string({ unit: 'binary-ascii', minLength: 1, maxLength: 30 }).map((s) => s.replace(/[\r\n]/g, '')).filter((s) => s.trim() !== '' && !isJsonObject(s)),
    // a field or key the format refuses
    payload.map((p) => JSON.stringify({ key: 'k', ...p.field, extra: 1 })),
    payload.map((p) => JSON.stringify(p.field)),
    fc.tuple(fc.constantFrom(null, true, {}, []), payload).map(([k, p]) => JSON.stringify({ key: k, ...p.field })),
    fc.tuple(anyKey.filter((k) => !validKey(k)), payload).map(([k, p]) => JSON.stringify({ key: k, ...p.field })),
    // a number key that is not a safe integer: stored as another key, it would collide (issue 14 point 5)
    fc.tuple(fc.bigInt({ min: 2n ** 53n, max: 10n ** 30n }), fc.boolean()).map(([n, neg]) => `{"key":${neg ? '-' : ''}${n},"body":"x"}`),
    fc.constantFrom('{"key":12345678901234567890,"body":"x"}', '{"key":9007199254740993,"body":"x"}', '{"key":1e400,"body":"x"}', '{"key":1.5e300,"body":"x"}', '{"key":-9007199254740993,"body":"x"}'),
    // payload problems
    fc.constantFrom('{"key":"k"}', '{"key":"k","body":"a","json":1}', '{"key":"k","body":5}', '{"key":"k","body":null}', '{"key":"k","base64":"***"}', '{"key":"k","base64":5}', '{"key":"k","body":"a","base64":"YQ=="}'),
    // a content type no response could carry (issue 14 point 1)
    fc.tuple(payload, unsendableMediaType).map(([p, ct]) => JSON.stringify({ key: 'k', ...p.field, contentType: ct })),
    fc.tuple(payload, fc.constantFrom(5, null, '', ['text/plain'])).map(([p, ct]) => JSON.stringify({ key: 'k', ...p.field, contentType: ct })),
    ...(collections ? [fc.constantFrom('{"key":"k","body":"x","collection":"-bad"}', '{"key":"k","body":"x","collection":5}')] : [fc.constant('{"key":"k","body":"x","collection":"other"}')]),
  ).map((text) => lineOf('bad', text));
  // invalid UTF-8 inside a string: silently replaced by U+FFFD, it would store other bytes (issue 14 point 5)
  const badUtf8 = fc.tuple(fc.constantFrom([0xff], [0xc3, 0x28], [0xc0, 0xaf], [0xed, 0xa0, 0x80], [0xe2, 0x82], [0xf8, 0x88, 0x80, 0x80, 0x80]), fc.boolean()).map(([bytes, inKey]) =>
    lineOf('bad', Buffer.concat([Buffer.from(inKey ? '{"key":"k' : '{"key":"k","body":"x'), Buffer.from(bytes), Buffer.from(inKey ? '","body":"x"}' : '"}')])),
  );
  const blank = fc.constantFrom('', ' ', '\t', '   ').map((t) => lineOf('blank', t));
  return fc.oneof({ weight: 6, arbitrary: good }, { weight: 4, arbitrary: bad }, { weight: 1, arbitrary: badUtf8 }, { weight: 1, arbitrary: blank });
}

function isJsonObject(s: string): boolean {
  try {
    const v: unknown = JSON.parse(s);
    return typeof v === 'object' && v !== null && !Array.isArray(v);
  } catch {
    return false;
  }
}

/** CSV: a header row and rows, every cell quoted. */
export interface CsvFile {
  bytes: Buffer;
  rows: Line[];
}

/** A quoted CSV cell ("" for a quote inside); a Buffer is taken as bytes (invalid UTF-8 on purpose). */
function cell(v: string | Buffer): Buffer {
  const bytes = typeof v === 'string' ? Buffer.from(v) : v;
  const out: number[] = [0x22];
  for (const b of bytes) out.push(...(b === 0x22 ? [0x22, 0x22] : [b]));
  out.push(0x22);
  return Buffer.from(out);
}

/** A CSV file: key, one payload column, optionally contentType and collection; good, bad and either rows. */
export const csvFile: fc.Arbitrary<CsvFile> = fc
  .record({ column: fc.constantFrom('body', 'json', 'base64'), withType: fc.boolean(), withCollection: fc.boolean(), seeds: fc.array(fc.tuple(fc.nat(), fc.nat(), fc.nat(), fc.nat()), { minLength: 1, maxLength: 12 }) })
  .chain(({ column, withType, withCollection, seeds }) => {
    const header = ['key', column, ...(withType ? ['contentType'] : []), ...(withCollection ? ['collection'] : [])];
    const value = column === 'body'
      ? fc.string({ unit: 'binary', minLength: 1, maxLength: 60 }).map((s) => ({ cell: s, body: Buffer.from(s) }))
      : column === 'json'
        ? fc.jsonValue({ maxDepth: 2 }).map((v) => ({ cell: JSON.stringify(v), body: Buffer.from(JSON.stringify(v)) }))
        : fc.uint8Array({ minLength: 1, maxLength: 40 }).map((b) => ({ cell: Buffer.from(b).toString('base64'), body: Buffer.from(b) }));
    const defaultType = column === 'body' ? TEXT : column === 'json' ? JSON_TYPE : OCTETS;
    const row = fc.oneof(
      { weight: 6, arbitrary: fc.record({ key: goodKey, v: value, type: withType ? fc.option(fc.oneof(goodMediaType.map((t) => ({ t, good: true })), malformedMediaType.filter((t) => t !== '').map((t) => ({ t, good: false }))), { nil: undefined }) : fc.constant(undefined), coll: withCollection ? fc.option(goodCollection, { nil: undefined }) : fc.constant(undefined) }).map(({ key, v, type, coll }): Line => {
        const cells = [cell(key), cell(v.cell), ...(withType ? [cell(type?.t ?? '')] : []), ...(withCollection ? [cell(coll ?? '')] : [])];
        return { kind: type && !type.good ? 'either' : 'good', bytes: join(cells), record: { collection: coll, key, body: v.body, contentType: type?.t ?? defaultType } };
      }) },
      { weight: 3, arbitrary: fc.oneof(
        value.map((v) => [cell(''), cell(v.cell)]),
        fc.tuple(anyKey.filter((k) => !validKey(Buffer.from(k).toString())), value).map(([k, v]) => [cell(k), cell(v.cell)]),
        goodKey.map((k) => [cell(k), cell('')]),
        goodKey.map((k) => [cell(k), cell(column === 'json' ? '{not json' : column === 'base64' ? '***' : '')]),
        ...(withType ? [fc.tuple(goodKey, value, unsendableMediaType).map(([k, v, t]) => [cell(k), cell(v.cell), cell(t)])] : []),
        fc.tuple(goodKey, fc.constantFrom([0xff], [0xc3, 0x28], [0xed, 0xa0, 0x80])).map(([k, b]) => [cell(k), cell(Buffer.concat([Buffer.from(column === 'base64' ? 'YQ' : column === 'json' ? '"a' : 'a'), Buffer.from(b), Buffer.from(column === 'json' ? '"' : '')]))]),
      ).map((cells): Line => {
        const width = header.length;
        const full = [...cells.slice(0, width), ...Array.from({ length: Math.max(0, width - cells.length) }, () => cell(''))];
        return { kind: 'bad', bytes: join(full) };
      }) },
      // a row with one cell too many
      { weight: 1, arbitrary: fc.tuple(goodKey, value).map(([k, v]): Line => ({ kind: 'bad', bytes: join([cell(k), cell(v.cell), ...header.slice(2).map(() => cell('')), cell('extra')]) })) },
    );
    return fc.tuple(fc.constant(header), fc.array(row, { minLength: seeds.length, maxLength: seeds.length }), fc.boolean());
  })
  .map(([header, rows, crlf]) => {
    const eol = Buffer.from(crlf ? '\r\n' : '\n');
    const parts: Buffer[] = [Buffer.from(header.join(',')), eol];
    for (const r of rows) parts.push(r.bytes, eol);
    return { bytes: Buffer.concat(parts), rows };
  });

function join(cells: Buffer[]): Buffer {
  const out: Buffer[] = [];
  cells.forEach((c, i) => out.push(...(i > 0 ? [Buffer.from(','), c] : [c])));
  return Buffer.concat(out);
}

export interface Report {
  imported: number;
  failed: number;
  /** Which lines (1-based) were refused: NDJSON line numbers, or CSV row numbers (the header not counted). */
  refused: readonly number[];
}

/**
 * Checks a report against the lines (line i = lines[i-1]) and reads back every record that must have been
 * stored: the last one kept for each (collection, key). `read` answers the stored body and type.
 */
export async function judge(lines: readonly Line[], report: Report, defaultCollection: string, read: (collection: string, key: string) => Promise<{ body: Buffer; contentType: string } | undefined>): Promise<void> {
  const refused = new Set(report.refused);
  const kept = new Map<string, Stored>();
  let imported = 0;
  let failed = 0;
  lines.forEach((line, i) => {
    const n = i + 1;
    if (line.kind === 'blank') return assert.ok(!refused.has(n), `blank line ${n} reported`);
    if (line.kind === 'good') assert.ok(!refused.has(n), `line ${n} is good but was refused: ${JSON.stringify(line.bytes.toString('latin1'))}`);
    if (line.kind === 'bad') assert.ok(refused.has(n), `line ${n} must be refused, was imported: ${JSON.stringify(line.bytes.toString('latin1'))}`);
    if (refused.has(n)) failed++;
    else if (line.record) {
      imported++;
      kept.set(JSON.stringify([line.record.collection ?? defaultCollection, line.record.key]), line.record);
    }
  });
  assert.equal(report.imported, imported, 'imported count');
  assert.equal(report.failed, failed, 'failed count');
  for (const record of kept.values()) {
    const collection = record.collection ?? defaultCollection;
    const name = `${collection}/${JSON.stringify(record.key)}`;
    const got = await read(collection, record.key);
    assert.ok(got, `${name} was imported but is not there`);
    assert.ok(got.body.equals(record.body), `${name}: stored ${JSON.stringify(got.body.toString('latin1'))}, expected ${JSON.stringify(record.body.toString('latin1'))}`);
    assert.equal(got.contentType, record.contentType, `${name}: Content-Type`);
  }
}
