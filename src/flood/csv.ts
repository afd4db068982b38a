// A small RFC 4180 reader for the {{csv FILE COLUMN}} template: quoted fields, "" escapes, CRLF or LF line ends.
// The first row names the columns. Files are read once, at start-up, before any request is sent.
import { readFileSync } from 'node:fs';
import { UsageError } from './usage.ts';

export interface CsvTable {
  readonly header: readonly string[];
  readonly rows: readonly (readonly string[])[];
}

export function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let i = 0;
  let quoted = false;
  let fieldStarted = false;
  while (i < text.length) {
    const ch = text[i] ?? '';
    if (quoted) {
      if (ch === '"') {
        if (text[i + 1] === '"') { field += '"'; i += 2; continue; }
        quoted = false; i++; continue;
      }
      field += ch; i++; continue;
    }
    if (ch === '"' && !fieldStarted) { quoted = true; fieldStarted = true; i++; continue; }
    if (ch === ',') { row.push(field); field = ''; fieldStarted = false; i++; continue; }
    if (ch === '\r' || ch === '\n') {
      row.push(field); field = ''; fieldStarted = false;
      if (row.length > 1 || row[0] !== '') rows.push(row);
      row = [];
      i += ch === '\r' && text[i + 1] === '\n' ? 2 : 1;
      continue;
    }
    field += ch; fieldStarted = true; i++;
  }
  if (fieldStarted || row.length > 0) { row.push(field); rows.push(row); }
  return rows;
}

export function readCsvFile(file: string): CsvTable {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new UsageError(`{{csv}}: cannot read '${file}': ${(err as Error).message}`);
  }
  const [header, ...rows] = parseCsv(text.startsWith('\uFEFF') ? text.slice(1) : text);
  if (!header) throw new UsageError(`{{csv}}: '${file}' is empty; its first row must name the columns`);
  if (rows.length === 0) throw new UsageError(`{{csv}}: '${file}' has a header row but no data rows`);
  return { header, rows };
}

/** The values of one column, by header name or by 1-based position. */
export function csvColumn(table: CsvTable, file: string, column: string): string[] {
  let index = table.header.indexOf(column);
  if (index < 0 && /^\d+$/.test(column)) index = Number(column) - 1;
  if (index < 0 || index >= table.header.length) {
    throw new UsageError(`{{csv}}: '${file}' has no column '${column}' (columns: ${table.header.join(', ')}; or a position 1..${table.header.length})`);
  }
  return table.rows.map((r) => r[index] ?? '');
}
