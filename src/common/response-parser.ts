// A small incremental HTTP/1.x response parser for the hot path. It reads bytes and never builds strings: the
// status code, Content-Length, Transfer-Encoding: chunked and Connection: close / keep-alive are all flood needs
// to know where a response ends and whether the connection can be reused. Bodies are skipped, not copied.
//
// Why hand-written: measured with `npm run bench:flood` (parser section; 2-core VM, Node 24.21, the 160-byte nginx
// response fed whole): this parser 187 ns per response, llhttp through Node's own binding (what node:http uses,
// with its callbacks into JS) 759 ns, http-parser-js (autocannon's parser, which builds header strings and objects)
// 1,688 ns. At 150,000 responses/s the difference to llhttp is 8 % of a core, to http-parser-js 22 %. The whole
// engine built this way (raw sockets, pre-built requests, this parser) generated 152,855 requests/s from one core
// against nginx, beside autocannon's 86,130 and wrk's 159,905 (docs/flood.md, "Why the engine is built this way").
//
// It is incremental: a response may arrive in any number of pieces and the parser keeps only a few numbers of
// state between them, so the caller can hand it slices of a buffer that is reused for every read.

const S_STATUS = 0;
const S_STATUS_REST = 1;
const S_HEADER_START = 2;
const S_HEADER_NAME = 3;
const S_HEADER_VALUE = 4;
const S_SKIP_LINE = 5;
const S_HEADERS_LF = 6;
const S_BODY = 7;
const S_BODY_EOF = 8;
const S_CHUNK_SIZE = 9;
const S_CHUNK_EXT = 10;
const S_CHUNK_DATA = 11;
const S_CHUNK_DATA_END = 12;
const S_TRAILER_START = 13;
const S_TRAILER_SKIP = 14;
const S_TRAILER_LF = 15;
const S_DONE = 16;

const CR = 13;
const LF = 10;
const COLON = 58;
const SPACE = 32;
const TAB = 9;

const H_CL = 1;
const H_TE = 2;
const H_CONN = 4;
const CL_NAME = bytes('content-length');
const TE_NAME = bytes('transfer-encoding');
const CONN_NAME = bytes('connection');
const CHUNKED = bytes('chunked');
const CLOSE = bytes('close');
const HTTP_PREFIX = bytes('HTTP/1.');

/** Headers larger than this are a protocol error rather than a reason to buffer without end. */
const MAX_HEAD_BYTES = 80 * 1024;

function bytes(s: string): Uint8Array {
  return Uint8Array.from(s, (c) => c.charCodeAt(0));
}

/** Returned by `feed()` while the response is incomplete. */
export const NEED_MORE = -1;
/** Returned by `feed()` when the bytes are not an HTTP/1.x response. */
export const MALFORMED = -2;

export class ResponseParser {
  /** Status code of the response being parsed (valid once the status line is read). */
  status = 0;
  /** Whether the connection may carry another request after this response. */
  keepAlive = true;

  #state = S_STATUS;
  #pos = 0;
  #minor = 1;
  #head = false;
  #headBytes = 0;
  #cand = 0;
  #nameIdx = 0;
  #header = 0;
  #tok = 0;
  #tokFirst = 0;
  #contentLength = -1;
  #chunked = false;
  #connClose = false;
  #connKeepAlive = false;
  #remaining = 0;
  #chunkSize = 0;
  #chunkDigits = 0;
  /** A chunk of data, or bytes of a body delimited by the close, was seen in the current response. */
  #sawData = false;

  /** Prepares for the next response; `head` is true when the request was HEAD (the response has no body). */
  reset(head: boolean): void {
    this.#head = head;
    this.#startResponse();
  }

  #startResponse(): void {
    this.status = 0;
    this.keepAlive = true;
    this.#state = S_STATUS;
    this.#pos = 0;
    this.#minor = 1;
    this.#headBytes = 0;
    this.#contentLength = -1;
    this.#chunked = false;
    this.#connClose = false;
    this.#connKeepAlive = false;
    this.#sawData = false;
  }

  /** True when the complete response carried at least one byte of body (read once `feed()` returned its end). */
  get hasBody(): boolean {
    return this.#contentLength > 0 || this.#sawData;
  }

  /** True once any byte of the current response has been read. */
  get started(): boolean {
    return this.#state !== S_STATUS || this.#pos > 0;
  }

  /**
   * Feeds bytes `b[start, end)`. Returns the index just past the end of the response once it is complete,
   * `NEED_MORE` if the bytes ran out first, or `MALFORMED`.
   */
  feed(b: Uint8Array, start: number, end: number): number {
    let i = start;
    let state = this.#state;
    if (state === S_STATUS && this.#pos === 0) {
      // the usual case: a whole response head in one read, parsed in one pass with locals only
      const after = this.#wholeHead(b, i, end);
      if (after >= 0) {
        i = after;
        state = this.#headersDone();
        if (state === S_DONE) return this.#done(i);
      } else if (after === MALFORMED) {
        return this.#malformed();
      }
    }
    while (i < end) {
      switch (state) {
        case S_STATUS: {
          const c = b[i++] ?? 0;
          const p = this.#pos++;
          if (p < 7) {
            if (c !== HTTP_PREFIX[p]) return this.#malformed();
          } else if (p === 7) {
            if (c < 0x30 || c > 0x39) return this.#malformed();
            this.#minor = c - 0x30;
          } else if (p === 8) {
            if (c !== SPACE) return this.#malformed();
          } else {
            const d = c - 0x30;
            if (d < 0 || d > 9) return this.#malformed();
            this.status = this.status * 10 + d;
            if (p === 11) state = S_STATUS_REST;
          }
          break;
        }
        case S_STATUS_REST:
        case S_SKIP_LINE: {
          const from = i;
          while (i < end && b[i] !== LF) i++;
          this.#headBytes += i - from;
          if (i < end) {
            i++;
            state = S_HEADER_START;
          }
          if (this.#headBytes > MAX_HEAD_BYTES) return this.#malformed();
          break;
        }
        case S_HEADER_START: {
          const c = b[i++] ?? 0;
          if (c === CR) {
            state = S_HEADERS_LF;
            break;
          }
          if (c === LF) {
            state = this.#headersDone();
            if (state === S_DONE) return this.#done(i);
            break;
          }
          const lc = c | 0x20;
          this.#cand = lc === 0x63 ? H_CL | H_CONN : lc === 0x74 ? H_TE : 0;
          this.#nameIdx = 1;
          state = this.#cand === 0 ? S_SKIP_LINE : S_HEADER_NAME;
          break;
        }
        case S_HEADER_NAME: {
          const c = b[i++] ?? 0;
          const n = this.#nameIdx++;
          if (c === COLON) {
            const cand = this.#cand;
            this.#header =
              cand & H_CL && n === CL_NAME.length ? H_CL
              : cand & H_TE && n === TE_NAME.length ? H_TE
              : cand & H_CONN && n === CONN_NAME.length ? H_CONN
              : 0;
            if (this.#header === 0) {
              state = S_SKIP_LINE;
            } else {
              state = S_HEADER_VALUE;
              this.#tok = 0;
              this.#tokFirst = 0;
              if (this.#header === H_CL) this.#contentLength = -1;
            }
            break;
          }
          const lc = c | 0x20;
          let cand = this.#cand;
          if (cand & H_CL && CL_NAME[n] !== lc) cand &= ~H_CL;
          if (cand & H_TE && TE_NAME[n] !== lc) cand &= ~H_TE;
          if (cand & H_CONN && CONN_NAME[n] !== lc) cand &= ~H_CONN;
          this.#cand = cand;
          if (cand === 0) state = S_SKIP_LINE;
          if (n > 64) return this.#malformed();
          break;
        }
        case S_HEADER_VALUE: {
          const c = b[i++] ?? 0;
          this.#headBytes++;
          if (c === LF) {
            this.#endToken();
            state = S_HEADER_START;
            break;
          }
          if (c === CR || c === SPACE || c === TAB) break;
          if (this.#header === H_CL) {
            const d = c - 0x30;
            if (d < 0 || d > 9) return this.#malformed();
            this.#contentLength = (this.#contentLength < 0 ? 0 : this.#contentLength * 10) + d;
            if (this.#contentLength > Number.MAX_SAFE_INTEGER / 10) return this.#malformed();
          } else if (c === 0x2c) {
            this.#endToken();
            this.#tok = 0;
            this.#tokFirst = 0;
          } else {
            const lc = c | 0x20;
            if (this.#tokFirst === 0) this.#tokFirst = lc;
            const word = this.#header === H_TE ? CHUNKED : CLOSE;
            this.#tok = this.#tok >= 0 && word[this.#tok] === lc ? this.#tok + 1 : -1;
          }
          if (this.#headBytes > MAX_HEAD_BYTES) return this.#malformed();
          break;
        }
        case S_HEADERS_LF: {
          if (b[i++] !== LF) return this.#malformed();
          state = this.#headersDone();
          if (state === S_DONE) return this.#done(i);
          break;
        }
        case S_BODY: {
          const take = Math.min(end - i, this.#remaining);
          i += take;
          this.#remaining -= take;
          if (this.#remaining === 0) return this.#done(i);
          break;
        }
        case S_BODY_EOF:
          if (end > i) this.#sawData = true;
          i = end;
          break;
        case S_CHUNK_SIZE: {
          const c = b[i++] ?? 0;
          if (c === LF) {
            if (this.#chunkDigits === 0) return this.#malformed();
            state = this.#chunkSizeDone();
          } else if (c === CR) {
            // the LF follows
          } else if (c === 0x3b || c === SPACE || c === TAB) {
            state = S_CHUNK_EXT;
          } else {
            const lc = c | 0x20;
            const v = c >= 0x30 && c <= 0x39 ? c - 0x30 : lc >= 0x61 && lc <= 0x66 ? lc - 0x57 : -1;
            if (v < 0 || this.#chunkDigits >= 12) return this.#malformed();
            this.#chunkSize = this.#chunkSize * 16 + v;
            this.#chunkDigits++;
          }
          break;
        }
        case S_CHUNK_EXT: {
          while (i < end && b[i] !== LF) i++;
          if (i < end) {
            i++;
            if (this.#chunkDigits === 0) return this.#malformed();
            state = this.#chunkSizeDone();
          }
          break;
        }
        case S_CHUNK_DATA: {
          const take = Math.min(end - i, this.#remaining);
          i += take;
          this.#remaining -= take;
          if (this.#remaining === 0) state = S_CHUNK_DATA_END;
          break;
        }
        case S_CHUNK_DATA_END: {
          const c = b[i++] ?? 0;
          if (c === LF) {
            state = S_CHUNK_SIZE;
            this.#chunkSize = 0;
            this.#chunkDigits = 0;
          } else if (c !== CR) {
            return this.#malformed();
          }
          break;
        }
        case S_TRAILER_START: {
          const c = b[i++] ?? 0;
          if (c === LF) return this.#done(i);
          state = c === CR ? S_TRAILER_LF : S_TRAILER_SKIP;
          break;
        }
        case S_TRAILER_SKIP: {
          while (i < end && b[i] !== LF) i++;
          if (i < end) {
            i++;
            state = S_TRAILER_START;
          }
          break;
        }
        case S_TRAILER_LF:
          if (b[i++] !== LF) return this.#malformed();
          return this.#done(i);
        default:
          // S_DONE: bytes after a complete response on a connection without pipelining
          return this.#malformed();
      }
    }
    this.#state = state;
    return NEED_MORE;
  }

  /**
   * Parses a complete response head in `b[i, end)` in one pass. Returns the index after the blank line, NEED_MORE
   * when the head is not complete in these bytes (the incremental machine then starts over from the same bytes),
   * or MALFORMED.
   */
  #wholeHead(b: Uint8Array, i: number, end: number): number {
    if (end - i < 16) return NEED_MORE;
    for (let k = 0; k < 7; k++) if (b[i + k] !== HTTP_PREFIX[k]) return MALFORMED;
    const minor = (b[i + 7] ?? 0) - 0x30;
    const d0 = (b[i + 9] ?? 0) - 0x30;
    const d1 = (b[i + 10] ?? 0) - 0x30;
    const d2 = (b[i + 11] ?? 0) - 0x30;
    if (minor < 0 || minor > 9 || b[i + 8] !== SPACE || d0 < 0 || d0 > 9 || d1 < 0 || d1 > 9 || d2 < 0 || d2 > 9) return MALFORMED;
    const first = i;
    i += 12;
    while (i < end && b[i] !== LF) i++;
    i++;
    let contentLength = -1;
    let chunked = false;
    let close = false;
    let keepAlive = false;
    while (i < end) {
      const c = b[i] ?? 0;
      if (c === CR || c === LF) {
        const after = c === CR ? i + 2 : i + 1;
        if (after > end) return NEED_MORE;
        if (c === CR && b[i + 1] !== LF) return MALFORMED;
        if (after - first > MAX_HEAD_BYTES) return MALFORMED;
        this.status = d0 * 100 + d1 * 10 + d2;
        this.#minor = minor;
        this.#pos = 12;
        this.#contentLength = contentLength;
        this.#chunked = chunked;
        this.#connClose = close;
        this.#connKeepAlive = keepAlive;
        return after;
      }
      const lc = c | 0x20;
      let header = 0;
      let valueAt = -1;
      if (lc === 0x63) {
        if (matchName(b, i, end, CL_NAME)) header = H_CL;
        else if (matchName(b, i, end, CONN_NAME)) header = H_CONN;
      } else if (lc === 0x74 && matchName(b, i, end, TE_NAME)) {
        header = H_TE;
      }
      if (header !== 0) valueAt = i + (header === H_CL ? CL_NAME.length : header === H_TE ? TE_NAME.length : CONN_NAME.length) + 1;
      let lf = valueAt < 0 ? i : valueAt;
      while (lf < end && b[lf] !== LF) lf++;
      if (lf >= end) return NEED_MORE;
      if (header === H_CL) {
        let n = -1;
        for (let k = valueAt; k < lf; k++) {
          const v = b[k] ?? 0;
          if (v === SPACE || v === TAB || v === CR) continue;
          const d = v - 0x30;
          if (d < 0 || d > 9) return MALFORMED;
          n = (n < 0 ? 0 : n * 10) + d;
        }
        if (n > Number.MAX_SAFE_INTEGER / 10) return MALFORMED;
        contentLength = n;
      } else if (header === H_TE) {
        chunked = endsWithToken(b, valueAt, lf, CHUNKED);
      } else if (header === H_CONN) {
        if (hasToken(b, valueAt, lf, CLOSE)) close = true;
        else if (((b[skipSpaces(b, valueAt, lf)] ?? 0) | 0x20) === 0x6b) keepAlive = true;
      }
      i = lf + 1;
    }
    return NEED_MORE;
  }

  /** At end of stream: true when the response is complete by the close (a body delimited by the connection end). */
  finishAtEof(): boolean {
    if (this.#state === S_BODY_EOF) {
      this.#state = S_DONE;
      return true;
    }
    return false;
  }

  #endToken(): void {
    if (this.#header === H_TE) {
      // the last transfer-coding decides: "gzip, chunked" is chunked
      this.#chunked = this.#tok === CHUNKED.length;
    } else if (this.#header === H_CONN) {
      if (this.#tok === CLOSE.length) this.#connClose = true;
      else if (this.#tokFirst === 0x6b) this.#connKeepAlive = true;
    }
  }

  #headersDone(): number {
    const status = this.status;
    if (status >= 100 && status < 200 && status !== 101) {
      // an interim response (100 Continue, 103 Early Hints): the real one follows
      const head = this.#head;
      this.#startResponse();
      this.#head = head;
      return S_STATUS;
    }
    this.keepAlive = this.#minor >= 1 ? !this.#connClose : this.#connKeepAlive && !this.#connClose;
    if (this.#head || status === 204 || status === 304 || status === 101) return S_DONE;
    if (this.#chunked) {
      this.#chunkSize = 0;
      this.#chunkDigits = 0;
      return S_CHUNK_SIZE;
    }
    if (this.#contentLength >= 0) {
      if (this.#contentLength === 0) return S_DONE;
      this.#remaining = this.#contentLength;
      return S_BODY;
    }
    this.keepAlive = false;
    return S_BODY_EOF;
  }

  #chunkSizeDone(): number {
    if (this.#chunkSize === 0) return S_TRAILER_START;
    this.#sawData = true;
    this.#remaining = this.#chunkSize;
    return S_CHUNK_DATA;
  }

  #done(i: number): number {
    this.#state = S_DONE;
    return i;
  }

  #malformed(): number {
    this.#state = S_DONE;
    return MALFORMED;
  }
}

/** True when b[i…] starts with `name` (lower case) followed by ':'. */
function matchName(b: Uint8Array, i: number, end: number, name: Uint8Array): boolean {
  if (i + name.length >= end) return false;
  for (let k = 0; k < name.length; k++) if (((b[i + k] ?? 0) | 0x20) !== name[k]) return false;
  return b[i + name.length] === COLON;
}

function skipSpaces(b: Uint8Array, i: number, end: number): number {
  while (i < end && (b[i] === SPACE || b[i] === TAB)) i++;
  return i;
}

/** True when the comma-separated value in b[from, to) has `word` as its last token. */
function endsWithToken(b: Uint8Array, from: number, to: number, word: Uint8Array): boolean {
  let e = to;
  while (e > from && (b[e - 1] === CR || b[e - 1] === SPACE || b[e - 1] === TAB)) e--;
  const s = e - word.length;
  if (s < from) return false;
  for (let k = 0; k < word.length; k++) if (((b[s + k] ?? 0) | 0x20) !== word[k]) return false;
  return s === from || b[s - 1] === 0x2c || b[s - 1] === SPACE || b[s - 1] === TAB;
}

/** True when `word` is one of the comma-separated tokens of b[from, to). */
function hasToken(b: Uint8Array, from: number, to: number, word: Uint8Array): boolean {
  let k = from;
  while (k < to) {
    k = skipSpaces(b, k, to);
    let e = k;
    while (e < to && b[e] !== 0x2c) e++;
    let t = e;
    while (t > k && (b[t - 1] === CR || b[t - 1] === SPACE || b[t - 1] === TAB)) t--;
    if (t - k === word.length) {
      let same = true;
      for (let j = 0; j < word.length; j++) if (((b[k + j] ?? 0) | 0x20) !== word[j]) same = false;
      if (same) return true;
    }
    k = e + 1;
  }
  return false;
}
