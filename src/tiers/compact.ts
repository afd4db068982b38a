// The memory tier's compact store: an open-addressing hash index, an LRU list and every entry's metadata in one
// ArrayBuffer of fixed-size slot records, keys and bodies in slab chunks (slab.ts). A cached entry is no JavaScript
// object at all: a million entries are two typed-array buffers and a few hundred slabs, which the garbage collector
// does not walk. An entry is a slot number. This file knows nothing of TTLs or loads (memory.ts does).
import { MAX_CHUNK, SlabArena, chunkSizeOf } from './slab.ts';

/**
 * What one entry costs the process besides its chunk (or own Buffer): its slot record (72 bytes), the hash
 * index's share (4-byte cells at a load between 1/4 and 1/2: 8 to 16 bytes), the records' spare capacity (they
 * grow by half) and the allocator's slack around them. Measured by `npm run bench:memory` with --expose-gc over
 * 1,000,000 entries of 140-byte bodies: 230 bytes an entry of V8 heap + external memory, 261 of RSS (once V8's
 * young generation, some 30 MB a worker whatever it caches, is set aside); the chunk is 152 of those.
 */
export const ENTRY_OVERHEAD = 112;
/** Bytes a body kept in a Buffer of its own (larger than a slab chunk) costs besides its bytes. */
const OWN_BUFFER_OVERHEAD = 160;

const NEGATIVE = 1; // no record: a remembered deletion
const FAILED = 2; // a refresh of this (stale) entry failed
const TWO_BYTE_KEY = 4; // the key is stored as UTF-16 (two bytes a character), else Latin-1
const OWN_BODY = 8; // the body is in #own, not in the chunk
const LIVE = 16; // the slot holds an entry (not free): what the index rebuild walks
/** Slots the index rebuild walks a put: from 7/16 full it has 1/16 of the index's puts to walk every slot. */
const REBUILD_STEP = 16;
/** Bytes of one slot's fields (see the layout at CompactStore's fields). */
const SLOT_BYTES = 72;
/** A slot record's fields, as element offsets into the view that reads each (the layout is at CompactStore's fields). */
const U16_SLOT = SLOT_BYTES / 2;
const U32_SLOT = SLOT_BYTES / 4; // the u32 and i32 views
const F64_SLOT = SLOT_BYTES / 8;
const U32_HASH = 0;
const U32_SLAB = 1;
const U32_OFF = 2;
const U32_BODY_LEN = 3;
const U16_COLL = 8;
const U16_KEY_LEN = 9;
const U16_TYPE = 10;
const U8_FLAGS = 22;
const F64_FRESH = 3;
const F64_ETAG = 4;
const F64_VERSION = 5;
const F64_UPDATED = 6;
const I32_PREV = 14;
const I32_NEXT = 15;
const U32_TOUCHED = 16;
const U16_CLS = 34;
/** Entries one tier can hold: the records' reserved range (SLOT_BYTES each, address space only until used). */
const MAX_SLOTS = 2 ** 26;
const MAX_KEY_BYTES = 0xffff;

/** A Latin-1 string is stored a byte a character, anything else two. */
function isLatin1(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0xff) return false;
  return true;
}

function hashOf(cid: number, key: string): number {
  let h = (0x811c9dc5 ^ cid) >>> 0;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/** Strings (collection names, content types) kept once and named by a 16-bit id. */
class Interned {
  readonly #ids = new Map<string, number>();
  readonly names: string[] = [];
  /** The name asked for last and its id: a bulk fill asks for one content type a million times, each a new string. */
  #last = '';
  #lastId = -1;
  id(s: string): number {
    if (s === this.#last && this.#lastId >= 0) return this.#lastId;
    let id = this.#ids.get(s);
    if (id === undefined) {
      if (this.names.length > 0xffff) return -1;
      id = this.names.length;
      this.names.push(s);
      this.#ids.set(s, id);
    }
    this.#last = s;
    this.#lastId = id;
    return id;
  }
  find(s: string): number {
    return this.#ids.get(s) ?? -1;
  }
}

/** What an insert writes; the record's fields or a deletion's. */
export interface Fields {
  readonly version: number;
  readonly freshUntil: number;
  readonly updatedAt: number;
  /** NaN: not computed yet (memory.ts computes it when the entry is first answered). */
  readonly etag: number;
  readonly contentType: string;
  /** undefined for a remembered deletion. */
  readonly body: Buffer | undefined;
}

export class CompactStore {
  readonly #arena = new SlabArena();
  readonly #collections = new Interned();
  readonly #types = new Interned();
  readonly #own = new Map<number, Buffer>();
  #cap = 0;
  #count = 0;
  #bytes = 0;
  #free = -1; // free slots, linked through #next
  #unused = 0; // slots never used: #unused..#cap
  #head = -1; // least recently used
  #tail = -1; // most recently used
  #index = new Int32Array(16); // slot + 1, 0 empty
  /** The index being rebuilt at twice the size (see #put), and how many slots its walk has passed. */
  #next: Int32Array<ArrayBuffer> | undefined;
  #walked = 0;
  // A slot's fields, interleaved: one SLOT_BYTES record a slot in one ArrayBuffer, read through five views, so
  // the fields a hit reads (bytes 0-47) share one or two cache lines instead of one line in each of sixteen arrays.
  // Layout (byte offset: field): 0 hash u32 · 4 slab u32 · 8 off u32 · 12 bodyLen u32 · 16 coll u16 · 18 keyLen
  // u16 · 20 type u16 · 22 flags u8 · 24 fresh f64 · 32 etag f64 · 40 version f64 · 48 updated f64 · 56 prev i32 ·
  // 60 next i32 · 64 touched u32 (the stamp of the slot's last move to the recent end, see touchAt) · 68 cls u16.
  #records: ArrayBuffer | undefined;
  #f64 = new Float64Array(0);
  #u32 = new Uint32Array(0);
  #i32 = new Int32Array(0);
  #u16 = new Uint16Array(0);
  #u8 = new Uint8Array(0);

  get count(): number {
    return this.#count;
  }
  /** Accounted bytes: chunks (or own Buffers) plus ENTRY_OVERHEAD an entry. */
  get bytes(): number {
    return this.#bytes;
  }
  /** Slab bytes held from the process (free chunks included). */
  get slabBytes(): number {
    return this.#arena.slabBytes;
  }
  /** Occupied cells of the hash index (one an entry, or the index holds a stale cell): a check for tests, O(size). */
  get indexCells(): number {
    let n = 0;
    for (const v of this.#index) if (v !== 0) n++;
    return n;
  }
  get oldest(): number {
    return this.#head;
  }

  /** The slot holding (collection, key), or -1. */
  find(collection: string, key: string): number {
    const cid = this.#collections.find(collection);
    if (cid < 0) return -1;
    const h = hashOf(cid, key);
    const mask = this.#index.length - 1;
    for (let i = h & mask; ; i = (i + 1) & mask) {
      const s = this.#index[i] as number;
      if (s === 0) return -1;
      if (this.#u32[(s - 1) * U32_SLOT + U32_HASH] === h && this.#matches(s - 1, cid, key)) return s - 1;
    }
  }

  /**
   * touch(), at most once per `stamp` (the caller's clock in coarse units, never 0): a hot entry is relinked once
   * per unit, not on every hit, sparing the hit path the writes to its neighbours' slots.
   */
  touchAt(s: number, stamp: number): void {
    if (this.#u32[s * U32_SLOT + U32_TOUCHED] === stamp) return;
    this.#u32[s * U32_SLOT + U32_TOUCHED] = stamp;
    this.touch(s);
  }

  /** Moves a slot to the most recently used end. */
  touch(s: number): void {
    if (s === this.#tail) return;
    this.#unlink(s);
    this.#append(s);
  }

  /**
   * Stores an entry for (collection, key), replacing what the key held; -1 when it cannot be cached (a key over
   * 64 KiB, or 65,536 distinct collections or content types). The caller enforces the byte bound. `old` is what
   * find(collection, key) answers, for a caller that just asked it (a bulk fill): the key is not looked up twice.
   */
  insert(collection: string, key: string, f: Fields, old = this.find(collection, key)): number {
    if (old >= 0) this.remove(old);
    const cid = this.#collections.id(collection);
    const tid = f.body === undefined ? 0 : this.#types.id(f.contentType);
    const twoByte = !isLatin1(key);
    const keyBytes = key.length * (twoByte ? 2 : 1);
    if (cid < 0 || tid < 0 || keyBytes > MAX_KEY_BYTES) return -1;
    const bodyBytes = f.body?.length ?? 0;
    const own = keyBytes + bodyBytes > MAX_CHUNK;
    const size = chunkSizeOf(own ? keyBytes : keyBytes + bodyBytes);
    const cls = this.#arena.classFor(size);
    const chunk = this.#arena.alloc(cls);
    const slabId = this.#arena.slabOf(cls, chunk);
    const slab = this.#arena.slabs[slabId] as Buffer;
    const off = this.#arena.offsetOf(cls, chunk);
    if (twoByte) slab.write(key, off, keyBytes, 'utf16le');
    else slab.write(key, off, keyBytes, 'latin1');
    const s = this.#slot();
    if (f.body !== undefined) {
      if (own) this.#own.set(s, ownBytes(f.body));
      else slab.set(f.body, off + keyBytes); // TypedArray set: for small bodies cheaper than Buffer copy's wrapper
    }
    const h = hashOf(cid, key);
    this.#u32[s * U32_SLOT + U32_HASH] = h;
    this.#f64[s * F64_SLOT + F64_VERSION] = f.version;
    this.#f64[s * F64_SLOT + F64_FRESH] = f.freshUntil;
    this.#f64[s * F64_SLOT + F64_UPDATED] = f.updatedAt;
    this.#f64[s * F64_SLOT + F64_ETAG] = f.etag;
    this.#u16[s * U16_SLOT + U16_CLS] = cls;
    this.#u32[s * U32_SLOT + U32_SLAB] = slabId;
    this.#u32[s * U32_SLOT + U32_OFF] = off;
    this.#u16[s * U16_SLOT + U16_KEY_LEN] = keyBytes;
    this.#u32[s * U32_SLOT + U32_BODY_LEN] = bodyBytes;
    this.#u16[s * U16_SLOT + U16_COLL] = cid;
    this.#u16[s * U16_SLOT + U16_TYPE] = tid;
    this.#u8[s * SLOT_BYTES + U8_FLAGS] = LIVE | (f.body === undefined ? NEGATIVE : 0) | (twoByte ? TWO_BYTE_KEY : 0) | (own ? OWN_BODY : 0);
    this.#u32[s * U32_SLOT + U32_TOUCHED] = 0;
    this.#append(s);
    this.#put(s, h);
    this.#count++;
    this.#bytes += this.sizeOf(s);
    return s;
  }

  /**
   * Makes room for `n` more entries at once, for a bulk fill that knows its size: the columns and the hash index
   * grow once instead of step by step (each step copies every column, and re-probes the whole index).
   */
  reserve(n: number): void {
    const need = this.#unused + Math.max(0, Math.floor(n));
    if (need > this.#cap) this.#grow(need);
    let size = this.#index.length;
    while ((this.#count + n) * 2 > size) size *= 2;
    if (size > this.#index.length) {
      this.#next = undefined; // a rebuild under way is superseded: the whole index is built at its final size now
      this.#rehash(size);
    }
  }

  remove(s: number): void {
    this.#bytes -= this.sizeOf(s);
    this.#count--;
    this.#drop(this.#index, s);
    if (this.#next !== undefined && s < this.#walked) this.#drop(this.#next, s);
    this.#unlink(s);
    this.#arena.free(this.#u16[s * U16_SLOT + U16_CLS] as number, this.#u32[s * U32_SLOT + U32_SLAB] as number, this.#u32[s * U32_SLOT + U32_OFF] as number);
    if ((this.#u8[s * SLOT_BYTES + U8_FLAGS] as number) & OWN_BODY) this.#own.delete(s);
    this.#u8[s * SLOT_BYTES + U8_FLAGS] = 0;
    this.#i32[s * U32_SLOT + I32_NEXT] = this.#free;
    this.#free = s;
  }

  clear(): void {
    this.#arena.clear();
    this.#own.clear();
    this.#count = this.#bytes = 0;
    this.#free = this.#head = this.#tail = -1;
    this.#unused = 0;
    this.#index = new Int32Array(16);
    this.#next = undefined;
  }

  /** The accounted bytes of a slot. */
  sizeOf(s: number): number {
    const chunk = this.#arena.sizeOf(this.#u16[s * U16_SLOT + U16_CLS] as number);
    return (this.#u8[s * SLOT_BYTES + U8_FLAGS] as number) & OWN_BODY ? chunk + (this.#u32[s * U32_SLOT + U32_BODY_LEN] as number) + OWN_BUFFER_OVERHEAD + ENTRY_OVERHEAD : chunk + ENTRY_OVERHEAD;
  }
  version(s: number): number {
    return this.#f64[s * F64_SLOT + F64_VERSION] as number;
  }
  freshUntil(s: number): number {
    return this.#f64[s * F64_SLOT + F64_FRESH] as number;
  }
  updatedAt(s: number): number {
    return this.#f64[s * F64_SLOT + F64_UPDATED] as number;
  }
  etag(s: number): number {
    return this.#f64[s * F64_SLOT + F64_ETAG] as number;
  }
  /** Sets an entry's ETag number (one inserted with NaN, to be computed when first answered). */
  setEtag(s: number, etag: number): void {
    this.#f64[s * F64_SLOT + F64_ETAG] = etag;
  }
  contentType(s: number): string {
    return this.#types.names[this.#u16[s * U16_SLOT + U16_TYPE] as number] as string;
  }
  negative(s: number): boolean {
    return ((this.#u8[s * SLOT_BYTES + U8_FLAGS] as number) & NEGATIVE) !== 0;
  }
  failed(s: number): boolean {
    return ((this.#u8[s * SLOT_BYTES + U8_FLAGS] as number) & FAILED) !== 0;
  }
  markFailed(s: number): void {
    this.#u8[s * SLOT_BYTES + U8_FLAGS] = (this.#u8[s * SLOT_BYTES + U8_FLAGS] as number) | FAILED;
  }
  collection(s: number): string {
    return this.#collections.names[this.#u16[s * U16_SLOT + U16_COLL] as number] as string;
  }
  key(s: number): string {
    const slab = this.#arena.slabs[this.#u32[s * U32_SLOT + U32_SLAB] as number] as Buffer;
    const off = this.#u32[s * U32_SLOT + U32_OFF] as number;
    return slab.toString((this.#u8[s * SLOT_BYTES + U8_FLAGS] as number) & TWO_BYTE_KEY ? 'utf16le' : 'latin1', off, off + (this.#u16[s * U16_SLOT + U16_KEY_LEN] as number));
  }

  /**
   * A copy of the body: a chunk is reused once its entry is evicted, and a response may still be writing the
   * bytes it was handed, so the tier never hands out a view of a slab. (A body in a Buffer of its own is
   * never written again and is handed out as it is.)
   */
  body(s: number): Buffer {
    if ((this.#u8[s * SLOT_BYTES + U8_FLAGS] as number) & OWN_BODY) return this.#own.get(s) as Buffer;
    const from = (this.#u32[s * U32_SLOT + U32_OFF] as number) + (this.#u16[s * U16_SLOT + U16_KEY_LEN] as number);
    const len = this.#u32[s * U32_SLOT + U32_BODY_LEN] as number;
    const out = Buffer.allocUnsafe(len);
    (this.#arena.slabs[this.#u32[s * U32_SLOT + U32_SLAB] as number] as Buffer).copy(out, 0, from, from + len);
    return out;
  }

  #matches(s: number, cid: number, key: string): boolean {
    if (this.#u16[s * U16_SLOT + U16_COLL] !== cid) return false;
    const twoByte = ((this.#u8[s * SLOT_BYTES + U8_FLAGS] as number) & TWO_BYTE_KEY) !== 0;
    const len = this.#u16[s * U16_SLOT + U16_KEY_LEN] as number;
    if (len !== (twoByte ? key.length * 2 : key.length)) return false;
    const slab = this.#arena.slabs[this.#u32[s * U32_SLOT + U32_SLAB] as number] as Buffer;
    const off = this.#u32[s * U32_SLOT + U32_OFF] as number;
    if (twoByte) {
      for (let i = 0; i < key.length; i++) if ((slab[off + 2 * i] as number) + ((slab[off + 2 * i + 1] as number) << 8) !== key.charCodeAt(i)) return false;
    } else {
      for (let i = 0; i < len; i++) if (slab[off + i] !== key.charCodeAt(i)) return false;
    }
    return true;
  }

  #slot(): number {
    if (this.#free >= 0) {
      const s = this.#free;
      this.#free = this.#i32[s * U32_SLOT + I32_NEXT] as number;
      return s;
    }
    if (this.#unused === this.#cap) this.#grow(Math.max(1024, Math.ceil(this.#cap * 1.5)));
    return this.#unused++;
  }

  // The records live in one resizable ArrayBuffer: growing commits more of the range reserved up front instead of
  // copying every record into a new buffer (28 ms at 1,000,000 entries, 90 ms at 3,400,000, all at once), and the
  // views track its length.
  #grow(cap: number): void {
    if (cap > MAX_SLOTS) throw new RangeError(`the memory tier holds at most ${MAX_SLOTS} entries`);
    if (this.#records === undefined) {
      this.#records = new ArrayBuffer(0, { maxByteLength: MAX_SLOTS * SLOT_BYTES });
      this.#u8 = new Uint8Array(this.#records);
      this.#f64 = new Float64Array(this.#records);
      this.#u32 = new Uint32Array(this.#records);
      this.#i32 = new Int32Array(this.#records);
      this.#u16 = new Uint16Array(this.#records);
    }
    this.#records.resize(cap * SLOT_BYTES);
    this.#cap = cap;
  }

  // The index doubles before it is half full, without a stop: from 7/16 full a twice-as-large index is built
  // beside it, REBUILD_STEP slots a put (the slots walked in order, what is inserted or removed meanwhile kept in
  // both), and it takes over when the walk ends, well before the old one reaches 1/2. Rebuilding all at once
  // stalled one insert 57 ms at 1,000,000 entries and 228 ms at 4,000,000 (docs/design-notes.md).
  #put(s: number, h: number): void {
    if ((this.#count + 1) * 2 > this.#index.length) {
      // Only when the walk could not keep up (slots freed and never reused make it longer than the puts left).
      if (this.#next !== undefined) this.#walk(Number.POSITIVE_INFINITY);
      else this.#rehash(this.#index.length * 2);
    }
    insertInto(this.#index, s, h);
    if (this.#next !== undefined) {
      if (s < this.#walked) insertInto(this.#next, s, h);
      this.#walk(REBUILD_STEP);
    } else if ((this.#count + 1) * 16 > this.#index.length * 7) {
      this.#next = new Int32Array(this.#index.length * 2);
      this.#walked = 0;
    }
  }

  /** Moves the rebuild `n` slots on; at the last slot the new index takes over. */
  #walk(n: number): void {
    const next = this.#next as Int32Array<ArrayBuffer>;
    const end = Math.min(this.#unused, this.#walked + n);
    for (let w = this.#walked; w < end; w++) {
      if (((this.#u8[w * SLOT_BYTES + U8_FLAGS] as number) & LIVE) !== 0) insertInto(next, w, this.#u32[w * U32_SLOT + U32_HASH] as number);
    }
    this.#walked = end;
    if (end >= this.#unused) {
      this.#index = next;
      this.#next = undefined;
    }
  }

  #rehash(size: number): void {
    const old = this.#index;
    this.#index = new Int32Array(size);
    for (const v of old) if (v !== 0) insertInto(this.#index, v - 1, this.#u32[(v - 1) * U32_SLOT + U32_HASH] as number);
  }

  /** Takes a slot out of a hash index, shifting later cells of its probe run back (no tombstones). */
  #drop(index: Int32Array, s: number): void {
    const mask = index.length - 1;
    let i = (this.#u32[s * U32_SLOT + U32_HASH] as number) & mask;
    while (index[i] !== s + 1) i = (i + 1) & mask;
    for (let j = (i + 1) & mask; index[j] !== 0; j = (j + 1) & mask) {
      const home = (this.#u32[((index[j] as number) - 1) * U32_SLOT + U32_HASH] as number) & mask;
      // The cell at j may move to the hole at i if its home is not in (i, j] (cyclically).
      if (i <= j ? home <= i || home > j : home <= i && home > j) {
        index[i] = index[j] as number;
        i = j;
      }
    }
    index[i] = 0;
  }

  #unlink(s: number): void {
    const p = this.#i32[s * U32_SLOT + I32_PREV] as number;
    const n = this.#i32[s * U32_SLOT + I32_NEXT] as number;
    if (p >= 0) this.#i32[p * U32_SLOT + I32_NEXT] = n;
    else this.#head = n;
    if (n >= 0) this.#i32[n * U32_SLOT + I32_PREV] = p;
    else this.#tail = p;
  }

  #append(s: number): void {
    this.#i32[s * U32_SLOT + I32_PREV] = this.#tail;
    this.#i32[s * U32_SLOT + I32_NEXT] = -1;
    if (this.#tail >= 0) this.#i32[this.#tail * U32_SLOT + I32_NEXT] = s;
    else this.#head = s;
    this.#tail = s;
  }
}

/**
 * A body kept as a Buffer of its own must not pin a larger allocation it is a view of (a Redis client's read
 * chunk, up to 64 KiB shared by a pipelined batch): copy unless the view is the whole allocation.
 */
function ownBytes(view: Buffer): Buffer {
  return view.byteLength === view.buffer.byteLength ? view : Buffer.from(view);
}

/** Puts slot `s` (hash `h`) in the first empty cell of its probe run. */
function insertInto(index: Int32Array, s: number, h: number): void {
  const mask = index.length - 1;
  let i = h & mask;
  while (index[i] !== 0) i = (i + 1) & mask;
  index[i] = s + 1;
}
