// The memory tier's byte arena: every cached key and body lives in a chunk of a 1 MiB slab Buffer, never in a
// Buffer of its own, so a million entries are a few hundred Buffers for the garbage collector, not a million.
// Chunks come in size classes (multiples of 8 bytes up to 1 KiB, then steps of 1/8 of a power of two, so at
// most 12.5 % of a chunk is rounding); a freed chunk goes back on its class's free list and is reused by the
// next chunk of that size. Slabs are kept once allocated (the tier's byte bound keeps their number bounded).

/** Bytes in one slab. */
export const SLAB_BYTES = 1 << 20;
/** Chunks larger than this are not slab-allocated: the tier keeps such bodies in Buffers of their own. */
export const MAX_CHUNK = SLAB_BYTES >> 2;

/** The chunk size a need of `n` bytes is rounded up to. */
export function chunkSizeOf(n: number): number {
  if (n <= 1024) return Math.max(8, (n + 7) & ~7);
  const step = 2 ** (Math.floor(Math.log2(n)) - 3);
  return Math.ceil(n / step) * step;
}

interface SizeClass {
  readonly size: number;
  readonly perSlab: number;
  /** Global ids (indexes into SlabArena.slabs) of this class's slabs, in order. */
  readonly slabs: number[];
  /** Chunk numbers given back, reused first. */
  readonly free: number[];
  /** Chunks ever handed out (the next new chunk's number). */
  used: number;
}

export class SlabArena {
  readonly #classes: SizeClass[] = [];
  readonly #classOfSize = new Map<number, number>();
  /** Every slab, by global id: a chunk is found from its slab id and offset without any arithmetic on its class. */
  readonly slabs: Buffer[] = [];
  /** Each slab's position among its class's slabs. */
  readonly #ordinal: number[] = [];
  #slabBytes = 0;

  /** Bytes of slabs allocated (what the arena holds from the process, free chunks included). */
  get slabBytes(): number {
    return this.#slabBytes;
  }

  /** The class id for chunks of `size` bytes (a chunkSizeOf value), created on first use. */
  classFor(size: number): number {
    let id = this.#classOfSize.get(size);
    if (id === undefined) {
      id = this.#classes.length;
      this.#classes.push({ size, perSlab: Math.floor(SLAB_BYTES / size), slabs: [], free: [], used: 0 });
      this.#classOfSize.set(size, id);
    }
    return id;
  }

  sizeOf(cls: number): number {
    return (this.#classes[cls] as SizeClass).size;
  }

  /** A chunk of class `cls`: its number within the class. */
  alloc(cls: number): number {
    const c = this.#classes[cls] as SizeClass;
    const reused = c.free.pop();
    if (reused !== undefined) return reused;
    const n = c.used++;
    if (n >= c.slabs.length * c.perSlab) {
      c.slabs.push(this.slabs.length);
      this.#ordinal.push(c.slabs.length - 1);
      this.slabs.push(Buffer.allocUnsafeSlow(c.perSlab * c.size));
      this.#slabBytes += c.perSlab * c.size;
    }
    return n;
  }

  /** Gives back the chunk at `offset` of slab `slab`. */
  free(cls: number, slab: number, offset: number): void {
    const c = this.#classes[cls] as SizeClass;
    c.free.push((this.#ordinal[slab] as number) * c.perSlab + offset / c.size);
  }

  /** The global id of the slab holding a chunk; the chunk's first byte is at offsetOf(). */
  slabOf(cls: number, chunk: number): number {
    const c = this.#classes[cls] as SizeClass;
    return c.slabs[Math.floor(chunk / c.perSlab)] as number;
  }

  offsetOf(cls: number, chunk: number): number {
    const c = this.#classes[cls] as SizeClass;
    return (chunk % c.perSlab) * c.size;
  }

  /** Drops every slab. */
  clear(): void {
    this.#classes.length = 0;
    this.#classOfSize.clear();
    this.slabs.length = 0;
    this.#ordinal.length = 0;
    this.#slabBytes = 0;
  }
}
