// Key and collection rules, shared by the HTTP edge, the importer and the service.

export const MAX_KEY_BYTES = 256;
const COLLECTION_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

/**
 * Why a key is invalid, or undefined when it is valid. Keys are 1..256 bytes of UTF-8 without control
 * characters (C0, DEL, C1). Runs on every request: one pass over the characters, no allocation.
 */
export function keyProblem(key: string): string | undefined {
  const n = key.length;
  if (n === 0) return 'the key is empty';
  if (n > MAX_KEY_BYTES) return `the key is longer than ${MAX_KEY_BYTES} bytes`;
  let ascii = true;
  for (let i = 0; i < n; i++) {
    const c = key.charCodeAt(i);
    if (c < 0x20 || c === 0x7f || (c >= 0x80 && c <= 0x9f)) return 'the key contains a control character';
    if (c >= 0x80) ascii = false;
  }
  if (!ascii) {
    if (!key.isWellFormed()) return 'the key is not valid UTF-8';
    if (Buffer.byteLength(key, 'utf8') > MAX_KEY_BYTES) return `the key is longer than ${MAX_KEY_BYTES} bytes`;
  }
  return undefined;
}

/** Why a collection name is invalid, or undefined. Names: 1..64 of [A-Za-z0-9_.-], starting alphanumeric. */
export function collectionProblem(name: string): string | undefined {
  return COLLECTION_RE.test(name)
    ? undefined
    : 'a collection name is 1 to 64 letters, digits, "_", "." or "-", starting with a letter or digit';
}
