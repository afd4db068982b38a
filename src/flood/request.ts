// The request a run sends: parsed once from the URL, method, headers and body into a serialisable spec, then
// built per thread into bytes. A request without templates is one pre-built Buffer written as is; a templated
// request is rendered into one string per send (only the templated parts change).
import {
  compileTemplate, encodeHeaderValue, encodeTargetValue, isStatic, parseTemplate, TemplateContext,
  type TemplateSpec,
} from './template.ts';
import type { CsvTable } from './csv.ts';
import { UsageError } from './usage.ts';

export interface Target {
  readonly protocol: 'http:' | 'https:';
  /** Host name or IP address to connect to (no brackets around IPv6). */
  readonly hostname: string;
  readonly port: number;
  /** The Host header value: host[:port] as written in the URL. */
  readonly host: string;
  /** The URL as the user wrote it, for reports. */
  readonly url: string;
}

export interface RequestSpec {
  readonly method: string;
  readonly path: TemplateSpec;
  readonly headers: readonly { readonly name: string; readonly value: TemplateSpec }[];
  readonly body: TemplateSpec | null;
  /** Sends `Connection: close` (with --new-connection). */
  readonly close: boolean;
}

export interface RequestInput {
  readonly url: string;
  readonly method?: string | undefined;
  readonly headers?: readonly string[] | undefined;
  readonly body?: string | undefined;
  readonly close?: boolean | undefined;
}

const URL_SHAPE = /^(https?):\/\/([^/?#]*)([^#]*)/i;
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** Splits a URL into where to connect and the (possibly templated) request-target. */
export function parseTarget(url: string): { target: Target; path: string } {
  const m = URL_SHAPE.exec(url.trim());
  if (!m) throw new UsageError(`'${url}' is not an http:// or https:// URL`);
  const scheme = (m[1] ?? '').toLowerCase();
  const authority = m[2] ?? '';
  if (authority.includes('{{')) throw new UsageError(`'${url}': templates may appear in the path and query, not in the host`);
  let parsed: URL;
  try {
    parsed = new URL(`${scheme}://${authority}/`);
  } catch {
    throw new UsageError(`'${url}': '${authority}' is not a valid host[:port]`);
  }
  if (parsed.username || parsed.password) throw new UsageError(`'${url}': put credentials in a header (-H 'authorization: …'), not in the URL`);
  if (parsed.hostname === '') throw new UsageError(`'${url}' has no host`);
  const protocol = scheme === 'https' ? 'https:' : 'http:';
  const port = parsed.port === '' ? (protocol === 'https:' ? 443 : 80) : Number(parsed.port);
  const hostname = parsed.hostname.startsWith('[') ? parsed.hostname.slice(1, -1) : parsed.hostname;
  let path = m[3] ?? '';
  if (path === '' || path.startsWith('?')) path = `/${path}`;
  return { target: { protocol, hostname, port, host: parsed.host, url }, path };
}

/** Builds the request spec from the user's options; `csvCache` shares CSV reads between templates. */
export function buildRequestSpec(input: RequestInput, csvCache = new Map<string, CsvTable>()): { target: Target; spec: RequestSpec } {
  const { target, path } = parseTarget(input.url);
  const method = (input.method ?? (input.body !== undefined ? 'POST' : 'GET')).toUpperCase();
  if (!TOKEN.test(method)) throw new UsageError(`--method: '${input.method ?? ''}' is not an HTTP method`);
  const headers: { name: string; value: TemplateSpec }[] = [];
  for (const line of input.headers ?? []) {
    const colon = line.indexOf(':');
    const name = colon > 0 ? line.slice(0, colon).trim() : '';
    if (!TOKEN.test(name)) throw new UsageError(`--header: '${line}' is not 'Name: value'`);
    const lower = name.toLowerCase();
    if (lower === 'content-length' || lower === 'transfer-encoding') {
      throw new UsageError(`--header: flood sets ${name} itself from the body`);
    }
    headers.push({ name, value: parseTemplate(line.slice(colon + 1).trim(), `header ${name}`, csvCache) });
  }
  const body = input.body === undefined ? null : parseTemplate(input.body, 'body', csvCache);
  const pathSpec = parseTemplate(path, 'URL', csvCache);
  if (!hasHeader(headers, 'host')) headers.unshift({ name: 'Host', value: parseTemplate(target.host, 'host') });
  if (!hasHeader(headers, 'user-agent')) headers.push({ name: 'User-Agent', value: parseTemplate('floodgate-flood', 'ua') });
  return { target, spec: { method, path: pathSpec, headers, body, close: input.close ?? false } };
}

function hasHeader(headers: readonly { name: string }[], lower: string): boolean {
  return headers.some((h) => h.name.toLowerCase() === lower);
}

const METHODS_WITH_BODY = new Set(['POST', 'PUT', 'PATCH']);

/** Turns a spec into bytes, per thread. */
export class RequestFactory {
  /** The whole request, pre-built, when nothing in it is templated; otherwise null and `render()` builds each. */
  readonly prebuilt: Buffer | null;
  readonly isHead: boolean;
  readonly render: () => string;

  constructor(spec: RequestSpec, thread = 0, threads = 1, random: () => number = Math.random) {
    this.isHead = spec.method === 'HEAD';
    const ctx = new TemplateContext(thread, threads, random);
    const lineStart = `${spec.method} `;
    const target = compileTemplate(spec.path, ctx, encodeTargetValue);
    const headers = spec.headers.map((h) => {
      const value = compileTemplate(h.value, ctx, encodeHeaderValue);
      const prefix = `${h.name}: `;
      return () => `${prefix}${encodeHeaderValue(value())}\r\n`;
    });
    const body = spec.body ? compileTemplate(spec.body, ctx) : null;
    const alwaysLength = METHODS_WITH_BODY.has(spec.method);
    const tail = spec.close ? 'Connection: close\r\n' : '';
    this.render = () => {
      ctx.next();
      let head = `${lineStart}${target()} HTTP/1.1\r\n`;
      for (const h of headers) head += h();
      const b = body ? body() : '';
      if (body || alwaysLength) head += `Content-Length: ${Buffer.byteLength(b)}\r\n`;
      return `${head}${tail}\r\n${b}`;
    };
    const everythingStatic = isStatic(spec.path) && spec.headers.every((h) => isStatic(h.value)) && (!spec.body || isStatic(spec.body));
    this.prebuilt = everythingStatic ? Buffer.from(this.render()) : null;
  }
}
