// Reading the request line without allocating on the hot path: the method check, one query parameter, and
// percent-decoding of a URL part. Each throws the HttpError the client gets.
import { HttpError } from './errors.ts';

/** Throws 405 unless `method` is one of `allowed` ("GET, HEAD"); a substring check, no allocation per request. */
export function allow(method: string, allowed: string): void {
  const at = allowed.indexOf(method);
  const whole = at !== -1 && (at === 0 || allowed.charCodeAt(at - 1) === 32) && (at + method.length === allowed.length || allowed.charCodeAt(at + method.length) === 44);
  if (!whole) {
    throw new HttpError('FG_ERR_METHOD_NOT_ALLOWED', `${method} is not allowed here; allowed: ${allowed}.`, { Allow: allowed });
  }
}

/** The raw value of the first `name=` parameter in url[from..], or undefined. No allocation but the value. */
export function queryParam(url: string, from: number, name: string): string | undefined {
  let i = from;
  while (i < url.length) {
    const amp = url.indexOf('&', i);
    const end = amp === -1 ? url.length : amp;
    if (url.startsWith(name, i) && url.charCodeAt(i + name.length) === 61 /* = */) return url.slice(i + name.length + 1, end);
    if (end - i === name.length && url.startsWith(name, i)) return '';
    i = end + 1;
  }
  return undefined;
}

/** Percent-decodes a URL part ('+' as a space in queries is left alone: ids do not contain spaces). */
export function decode(raw: string): string {
  if (raw.indexOf('%') === -1) return raw;
  try {
    return decodeURIComponent(raw);
  } catch {
    throw new HttpError('FG_ERR_BAD_REQUEST', 'The URL has a malformed percent-encoding.');
  }
}
