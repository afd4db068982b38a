// The demo content: what the reference tutorial's endpoint served, a 140-character string per user id,
// here deterministic (the same id always gets the same string) so tests and benchmarks can check bodies.
import type { Store } from '../store/store.ts';
import { BULK_BATCH } from './ndjson.ts';
import { DEFAULT_COLLECTION, DEFAULT_CONTENT_TYPE, type ContentWrite } from './record.ts';

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
export const DEMO_BODY_LENGTH = 140;

/** The demo body of one user id: 140 letters and digits from a PRNG seeded by the id (mulberry32). */
export function demoBody(userId: number): string {
  let state = (userId * 0x9e3779b1) >>> 0;
  let out = '';
  for (let i = 0; i < DEMO_BODY_LENGTH; i++) {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    out += ALPHABET[((t ^ (t >>> 14)) >>> 0) % ALPHABET.length];
  }
  return out;
}

/** Demo writes for ids from..to (inclusive), for batching into Store.putMany. */
export function demoWrites(from: number, to: number): ContentWrite[] {
  const writes: ContentWrite[] = [];
  for (let id = from; id <= to; id++) {
    writes.push({ collection: DEFAULT_COLLECTION, key: String(id), body: Buffer.from(demoBody(id)), contentType: DEFAULT_CONTENT_TYPE });
  }
  return writes;
}

/** Seeds demo users 1..n into the default collection when it is empty. Returns how many were written. */
export async function seedDemo(store: Store, n: number, onProgress?: (done: number, total: number) => void): Promise<number> {
  if (n <= 0 || (await store.hasAny(DEFAULT_COLLECTION))) return 0;
  for (let from = 1; from <= n; from += BULK_BATCH) {
    const to = Math.min(n, from + BULK_BATCH - 1);
    await store.putMany(demoWrites(from, to));
    onProgress?.(to, n);
  }
  return n;
}
