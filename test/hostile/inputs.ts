// What the hostile suites generate (fast-check arbitraries) and the documented rules they judge the answers by,
// written here from the README rather than imported from src/, so the server is not checked against itself:
//   keys         1 to 256 bytes of UTF-8, no control characters (C0, DEL, C1)
//   collections  1 to 64 of A-Za-z0-9_.-, starting alphanumeric
//   media types  RFC 9110: type "/" subtype *( OWS ";" OWS name "=" ( token / quoted-string ) ), Latin-1 only
import fc from 'fast-check';

/** The documented key rule. */
export function validKey(key: string): boolean {
  if (key.length === 0 || !key.isWellFormed() || Buffer.byteLength(key, 'utf8') > 256) return false;
  return !/[\u0000-\u001f\u007f-\u009f]/.test(key);
}

export const validCollection = (name: string): boolean => /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/.test(name);

const TCHAR = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&\'*+-.^_`|~';
const token = (max = 12): fc.Arbitrary<string> => fc.string({ unit: fc.constantFrom(...TCHAR), minLength: 1, maxLength: max });
/**
 * qdtext and quoted-pair of RFC 9110, with the obs-text that is not a C1 control (U+00A0..U+00FF): floodgate
 * refuses control characters anywhere, C1 included, which is stricter than the grammar and safe.
 */
const qchar = fc.oneof(
  fc.integer({ min: 0x20, max: 0x7e }).filter((c) => c !== 0x22 && c !== 0x5c).map((c) => String.fromCharCode(c)),
  fc.integer({ min: 0xa0, max: 0xff }).map((c) => String.fromCharCode(c)),
  fc.constantFrom('\\"', '\\\\', '\t'),
);
const quoted = fc.string({ unit: qchar, maxLength: 12 }).map((s) => `"${s}"`);
const parameter = fc.tuple(fc.constantFrom(';', '; ', ' ;', ';\t'), token(8), fc.oneof(token(10), quoted)).map(([sep, n, v]) => `${sep}${n}=${v}`);

/** A media type every way in must accept (and serve back as it was given). */
export const goodMediaType: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom('text/plain', 'application/json', 'application/json; charset=utf-8', 'text/html; charset="UTF-8"', 'application/vnd.api+json', 'image/svg+xml'),
  fc.tuple(token(), token(), fc.array(parameter, { maxLength: 3 })).map(([t, s, ps]) => `${t}/${s}${ps.join('')}`),
);

/**
 * A media type that cannot be sent as a header at all (a control character other than HTAB, a character above
 * U+00FF): every way in must refuse it, or the record could never be served.
 */
export const unsendableMediaType: fc.Arbitrary<string> = fc
  .tuple(goodMediaType, fc.constantFrom('\u0000', '\u0001', '\u001b', '\u007f', '\r', '\n', '€', '“', '\u2028', '😀', 'Ā', '\u0100'), fc.nat())
  .map(([m, bad, at]) => {
    const i = at % (m.length + 1);
    return m.slice(0, i) + bad + m.slice(i);
  });

/**
 * A media type outside RFC 9110's grammar that could still be sent (no subtype, a bad parameter, a C1 byte):
 * a way in may refuse it or keep it, but what it keeps must read back as given.
 */
export const malformedMediaType: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom('', 'text', 'text/', '/plain', 'text/plain; charset', 'text/plain; charset=', 'text/plain; charset="unterminated', 'a b/c', 'text/plain, text/html', 'text/plain; a=b=c', '"text/plain"', 'text/pl\u0085ain', 'tëxt/plain', 'text/plain; a="\u0080"'),
  fc.string({ unit: fc.integer({ min: 0x20, max: 0xff }).filter((c) => c !== 0x7f && (c < 0x80 || c > 0x9f)).map((c) => String.fromCharCode(c)), minLength: 1, maxLength: 20 }).map((s) => s.trim()).filter((s) => s !== '' && !/^[!#$%&'*+.^_`|~0-9A-Za-z-]+\/[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(s)),
);

/** Any media type outside the grammar: unsendable ones and malformed ones. */
export const badMediaType: fc.Arbitrary<string> = fc.oneof(unsendableMediaType, malformedMediaType);

/** A key the documented rule accepts: text of any script, digits, punctuation that URLs escape. */
export const goodKey: fc.Arbitrary<string> = fc
  .oneof(
    fc.string({ unit: 'grapheme', minLength: 1, maxLength: 24 }),
    fc.string({ unit: 'binary', minLength: 1, maxLength: 24 }),
    fc.nat().map(String),
    fc.constantFrom('_bulk', '.', '..', '%', '/', 'a/b', '?x=1', '#frag', ' ', '+', '%2F', 'é', '日本', 'x'.repeat(256), 'é'.repeat(128), 'a\u2028b', '\u2029', '\ufeffbom', '\ud83d\ude00'),
  )
  .filter(validKey);

/** Any key: good ones, and ones with control characters, lone surrogates, too many bytes, or none. */
export const anyKey: fc.Arbitrary<string> = fc.oneof(
  { weight: 3, arbitrary: goodKey },
  { weight: 2, arbitrary: fc.string({ unit: 'binary-ascii', maxLength: 20 }) },
  { weight: 1, arbitrary: fc.string({ unit: fc.oneof(fc.constantFrom('\ud800', '\udfff', '\u0000', '\u0085', '\u007f'), fc.string({ minLength: 1, maxLength: 1 })), maxLength: 8 }) },
  { weight: 1, arbitrary: fc.constantFrom('', 'x'.repeat(257), 'é'.repeat(129), '\u0000', 'a\nb', '\t') },
);

export const goodCollection: fc.Arbitrary<string> = fc
  .tuple(fc.constantFrom(...'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789'), fc.string({ unit: fc.constantFrom(...'abcxyzABC019_.-'), maxLength: 63 }))
  .map(([a, b]) => a + b)
  .filter((c) => c !== 'default');

export const anyCollection: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: goodCollection },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 70 }).filter((c) => c !== 'default') },
  { weight: 1, arbitrary: fc.constantFrom('', '_x', '-x', '.x', 'a'.repeat(65), 'a b', 'a/b', 'é') },
);

/** Percent-encodes every UTF-8 byte of `s` outside the unreserved set (a lone surrogate as U+FFFD's bytes, as URLs do). */
export function encodePart(s: string): string {
  let out = '';
  for (const byte of Buffer.from(s, 'utf8')) {
    const c = String.fromCharCode(byte);
    out += /[A-Za-z0-9\-._~]/.test(c) ? c : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/** What a URL part decodes to, or undefined for a malformed percent-encoding (the documented 400). */
export function decodePart(raw: string): string | undefined {
  try {
    return decodeURIComponent(raw);
  } catch {
    return undefined;
  }
}

/**
 * A URL path part as a hostile client sends it: properly encoded text, raw bytes percent-encoded one by one
 * (invalid UTF-8 included), or a malformed percent-encoding.
 */
export function urlPart(text: fc.Arbitrary<string>): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 6, arbitrary: text.map(encodePart) },
    { weight: 1, arbitrary: fc.uint8Array({ minLength: 1, maxLength: 8 }).map((b) => [...b].map((x) => `%${x.toString(16).padStart(2, '0')}`).join('')) },
    { weight: 1, arbitrary: fc.tuple(text.map(encodePart), fc.constantFrom('%', '%G0', '%e', '%%', '%C3', '%ED%A0%80')).map(([a, b]) => a + b) },
  );
}

/** Bodies: any bytes, including invalid UTF-8, NUL and nothing at all. */
export const anyBody: fc.Arbitrary<Buffer> = fc.oneof(
  fc.uint8Array({ maxLength: 600 }).map((b) => Buffer.from(b)),
  fc.string({ unit: 'binary', maxLength: 200 }).map((s) => Buffer.from(s)),
  fc.constantFrom(Buffer.alloc(0), Buffer.from([0]), Buffer.from([0xff, 0xfe]), Buffer.from('\r\n\r\n')),
);
