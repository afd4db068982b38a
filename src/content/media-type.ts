// The one check of a Content-Type before it is stored: every way in (PUT's header, bulk NDJSON and CSV lines,
// `floodgate import`, the collections file) calls mediaTypeProblem, so that every stored record can be answered.
// A stored value is sent back as the Content-Type header, and Node's writeHead throws for any character it
// cannot send (a control character, anything above U+00FF): one such record used to crash every worker that
// read it.
//
// The grammar is RFC 9110 §8.3.1 (media-type) with §5.6.2 token, §5.6.4 quoted-string and §5.6.6 parameters:
//   media-type = type "/" subtype parameters
//   parameters = *( OWS ";" OWS [ parameter ] )
//   parameter  = token "=" ( token / quoted-string )
//   qdtext     = HTAB / SP / %x21 / %x23-5B / %x5D-7E / obs-text       obs-text = %x80-FF
//   quoted-pair = "\" ( HTAB / SP / VCHAR / obs-text )
// so only Latin-1 (what a header can carry), and no control character (C0, DEL; obs-text's C1 range
// U+0080-U+009F is refused too, as it is in keys).

/** Longest Content-Type accepted: RFC 6838 caps type and subtype names at 127 characters each; parameters get the rest. */
export const MAX_MEDIA_TYPE_LENGTH = 1024;

const TCHAR = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]$/;

function isTchar(c: string): boolean {
  return TCHAR.test(c);
}

/** Why `value` is not a media type a response can carry, or undefined when it is one. */
export function mediaTypeProblem(value: string): string | undefined {
  const n = value.length;
  if (n === 0) return 'the content type is empty';
  if (n > MAX_MEDIA_TYPE_LENGTH) return `the content type is longer than ${MAX_MEDIA_TYPE_LENGTH} characters`;
  for (let i = 0; i < n; i++) {
    const c = value.charCodeAt(i);
    if ((c < 0x20 && c !== 0x09) || c === 0x7f || (c >= 0x80 && c <= 0x9f)) return `the content type contains a control character (U+${hex(c)}) at position ${i + 1}`;
    if (c > 0xff) return `the content type contains "${value[i]}" (U+${hex(c)}) at position ${i + 1}; a header carries only Latin-1 characters`;
  }
  let i = 0;
  const token = (): string => {
    const from = i;
    while (i < n && isTchar(value[i] as string)) i++;
    return value.slice(from, i);
  };
  const ows = (): void => {
    while (i < n && (value[i] === ' ' || value[i] === '\t')) i++;
  };
  const at = (): string => (i < n ? `"${value[i]}" at position ${i + 1}` : 'the end');
  if (token() === '') return `expected a type (as in "text/plain") but found ${at()}`;
  if (value[i] !== '/') return `expected "/" after the type but found ${at()}`;
  i++;
  if (token() === '') return `expected a subtype after "/" but found ${at()}`;
  for (;;) {
    ows();
    if (i === n) return undefined;
    if (value[i] !== ';') return `expected ";" before a parameter but found ${at()}`;
    i++;
    ows();
    if (i === n) return undefined;
    if (value[i] === ';') continue; // an empty parameter, allowed by the grammar
    if (token() === '') return `expected a parameter name but found ${at()}`;
    if (value[i] !== '=') return `expected "=" after the parameter name but found ${at()}`;
    i++;
    if (value[i] === '"') {
      i++;
      for (;;) {
        if (i === n) return 'a quoted parameter value is not closed';
        const c = value[i] as string;
        if (c === '"') break;
        if (c === '\\') {
          i++;
          if (i === n) return 'a quoted parameter value ends in "\\"';
        }
        i++; // every other character left is HTAB, SP, VCHAR or obs-text: allowed quoted, and after "\"
      }
      i++;
    } else if (token() === '') return `expected a parameter value (a token or a "quoted string") but found ${at()}`;
  }
}

function hex(c: number): string {
  return c.toString(16).toUpperCase().padStart(4, '0');
}
