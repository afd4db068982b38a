// The matrix file: several scenarios run in sequence and compared in one table. A scenario is written with the
// same long option names as the command line. Axes multiply: every combination of one entry per axis becomes a
// scenario (e.g. resource × protocol × keep-alive). Format: docs/flood.md, "Matrix file".
import { readFileSync } from 'node:fs';
import type { RawOptions } from './options.ts';
import { UsageError } from './usage.ts';

export interface MatrixScenario {
  readonly name: string;
  readonly options: RawOptions;
  readonly thresholds: readonly string[];
}

const STRING_KEYS = ['url', 'name', 'method', 'body', 'connections', 'threads', 'duration', 'requests', 'rate', 'think', 'timeout', 'ok', 'bail', 'origin', 'path'] as const;
const LIST_KEYS = ['header', 'stage', 'threshold'] as const;
const SWITCH_KEYS = ['new-connection', 'insecure'] as const;
const KNOWN = new Set<string>([...STRING_KEYS, ...LIST_KEYS, ...SWITCH_KEYS]);

type Fragment = Record<string, unknown>;

function isObject(v: unknown): v is Fragment {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function checkFragment(f: unknown, where: string): Fragment {
  if (!isObject(f)) throw new UsageError(`${where}: expected an object of options`);
  for (const k of Object.keys(f)) {
    if (!KNOWN.has(k)) throw new UsageError(`${where}: unknown option '${k}' (known: ${[...KNOWN].join(', ')})`);
  }
  return f;
}

/** Later fragments override earlier ones; lists (header, stage, threshold) add up. */
function combine(fragments: readonly Fragment[]): Fragment {
  const out: Fragment = {};
  for (const f of fragments) {
    for (const [k, v] of Object.entries(f)) {
      if ((LIST_KEYS as readonly string[]).includes(k)) {
        const prev = out[k] === undefined ? [] : (out[k] as unknown[]);
        out[k] = [...prev, ...(Array.isArray(v) ? v : [v])];
      } else {
        out[k] = v;
      }
    }
  }
  return out;
}

function toRaw(f: Fragment, where: string): { options: RawOptions; thresholds: string[] } {
  const raw: Record<string, unknown> = {};
  for (const k of STRING_KEYS) {
    const v = f[k];
    if (v === undefined) continue;
    if (typeof v !== 'string' && typeof v !== 'number') throw new UsageError(`${where}: '${k}' must be a string or a number`);
    raw[k] = String(v);
  }
  for (const k of LIST_KEYS) {
    const v = f[k];
    if (v === undefined) continue;
    const list = Array.isArray(v) ? v : [v];
    if (!list.every((x) => typeof x === 'string')) throw new UsageError(`${where}: '${k}' must be a string or a list of strings`);
    raw[k] = list;
  }
  for (const k of SWITCH_KEYS) {
    const v = f[k];
    if (v === undefined) continue;
    if (typeof v !== 'boolean') throw new UsageError(`${where}: '${k}' must be true or false`);
    raw[k] = v;
  }
  if (raw['url'] === undefined && (raw['origin'] !== undefined || raw['path'] !== undefined)) {
    raw['url'] = `${String(raw['origin'] ?? '')}${String(raw['path'] ?? '')}`;
  }
  const thresholds = (raw['threshold'] as string[] | undefined) ?? [];
  delete raw['origin'];
  delete raw['path'];
  delete raw['threshold'];
  return { options: raw as RawOptions, thresholds };
}

/** Parses a matrix document into scenarios, in order: the `scenarios` list first, then every axis combination. */
export function parseMatrix(doc: unknown, file: string): MatrixScenario[] {
  if (!isObject(doc)) throw new UsageError(`${file}: a matrix file is a JSON object with "scenarios" and/or "axes"`);
  for (const k of Object.keys(doc)) {
    if (!['defaults', 'scenarios', 'axes', '$schema', 'description'].includes(k)) {
      throw new UsageError(`${file}: unknown key '${k}' (known: defaults, scenarios, axes, description)`);
    }
  }
  const defaults = doc['defaults'] === undefined ? {} : checkFragment(doc['defaults'], `${file}: defaults`);
  const out: MatrixScenario[] = [];
  const scenarios = doc['scenarios'] ?? [];
  if (!Array.isArray(scenarios)) throw new UsageError(`${file}: "scenarios" must be a list`);
  scenarios.forEach((s, i) => {
    const where = `${file}: scenarios[${i}]`;
    const f = combine([defaults, checkFragment(s, where)]);
    const { options, thresholds } = toRaw(f, where);
    out.push({ name: options.name ?? `scenario ${i + 1}`, options: { ...options, name: options.name ?? `scenario ${i + 1}` }, thresholds });
  });
  if (doc['axes'] !== undefined) {
    const axes = doc['axes'];
    if (!isObject(axes) || Object.keys(axes).length === 0) throw new UsageError(`${file}: "axes" must map axis names to {label: options}`);
    let combos: { labels: string[]; fragments: Fragment[] }[] = [{ labels: [], fragments: [defaults] }];
    for (const [axis, entries] of Object.entries(axes)) {
      if (!isObject(entries) || Object.keys(entries).length === 0) throw new UsageError(`${file}: axis '${axis}' must map labels to options`);
      const next: typeof combos = [];
      for (const c of combos) {
        for (const [label, fragment] of Object.entries(entries)) {
          next.push({ labels: [...c.labels, label], fragments: [...c.fragments, checkFragment(fragment, `${file}: axes.${axis}.${label}`)] });
        }
      }
      combos = next;
    }
    for (const c of combos) {
      const name = c.labels.join(' · ');
      const { options, thresholds } = toRaw(combine(c.fragments), `${file}: ${name}`);
      out.push({ name: options.name ?? name, options: { ...options, name: options.name ?? name }, thresholds });
    }
  }
  if (out.length === 0) throw new UsageError(`${file}: no scenarios (give "scenarios" or "axes")`);
  return out;
}

export function readMatrixFile(file: string): MatrixScenario[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new UsageError(`--matrix: cannot read '${file}': ${(err as Error).message}`);
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new UsageError(`--matrix: '${file}' is not JSON: ${(err as Error).message}`);
  }
  return parseMatrix(doc, file);
}
