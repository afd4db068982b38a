import { UsageError } from './usage.ts';

// How a request can end. Every request flood sends ends in exactly one outcome: an HTTP response (its status code
// is counted) or one of these failure kinds. The keys are part of the JSON schema: add, never rename.
export const ERROR_KINDS = [
  'connect-timeout', // no connection (TCP + TLS) within --timeout
  'timeout', //         connected, but no complete response within --timeout
  'refused', //         ECONNREFUSED: nothing listens there
  'reset', //           ECONNRESET / EPIPE: the peer reset the connection
  'closed', //          the peer closed the connection before the response was complete
  'tls', //             handshake or certificate failure
  'dns', //             the host name did not resolve
  'protocol', //        the bytes that came back are not an HTTP/1.x response
  'socket', //          any other socket error (EHOSTUNREACH, EMFILE, ...)
] as const;
export type ErrorKind = (typeof ERROR_KINDS)[number];

export const ERROR_KIND_INDEX: Readonly<Record<ErrorKind, number>> = Object.fromEntries(
  ERROR_KINDS.map((k, i) => [k, i]),
) as Record<ErrorKind, number>;

/** The kinds that count as timeouts in the summary table; the others count as errors. */
export function isTimeoutKind(kind: ErrorKind): boolean {
  return kind === 'timeout' || kind === 'connect-timeout';
}

const DNS_CODES = new Set(['ENOTFOUND', 'EAI_AGAIN', 'EAI_FAIL', 'EAI_NODATA', 'EAI_NONAME']);
const RESET_CODES = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED']);

/** Sorts a socket error into a kind by its code; `tlsPhase` is true while a TLS handshake is under way. */
export function classifySocketError(err: unknown, tlsPhase: boolean): ErrorKind {
  const code = typeof err === 'object' && err !== null && 'code' in err ? String((err as { code: unknown }).code) : '';
  if (code === 'ECONNREFUSED') return 'refused';
  if (RESET_CODES.has(code)) return 'reset';
  if (DNS_CODES.has(code)) return 'dns';
  if (code === 'ETIMEDOUT') return 'connect-timeout';
  if (
    code.startsWith('ERR_SSL') || code.startsWith('ERR_TLS') || code.includes('CERT') ||
    code === 'DEPTH_ZERO_SELF_SIGNED_CERT' || code === 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' ||
    code === 'SELF_SIGNED_CERT_IN_CHAIN' || code === 'HOSTNAME_MISMATCH'
  ) return 'tls';
  if (tlsPhase) return 'tls';
  return 'socket';
}

/** Parses "200-399,404" into a lookup table of the status codes that count as success. */
export function parseOkStatuses(text: string): Uint8Array {
  const ok = new Uint8Array(1000);
  for (const part of text.split(',')) {
    const m = /^\s*(\d{3})(?:\s*-\s*(\d{3}))?\s*$/.exec(part);
    if (!m) throw new UsageError(`--ok: '${part}' is not a status code or a range such as 200-399`);
    const from = Number(m[1]);
    const to = m[2] === undefined ? from : Number(m[2]);
    if (from < 100 || to > 999 || to < from) throw new UsageError(`--ok: '${part}' is not a range of status codes between 100 and 999`);
    for (let c = from; c <= to; c++) ok[c] = 1;
  }
  return ok;
}
