// The Redis key layout and the two version-guarded writes, as Lua scripts run with EVALSHA.
//
// One hash per record at `<prefix>{<collection>:<key>}`. The braces are a Redis Cluster hash tag around the
// whole `collection:key`, so records spread over every slot (a per-collection tag would pile a collection onto
// one node) and the slot does not depend on the prefix. '%', '{' and '}' in the key and collection (and ':' in
// the collection) are %-escaped, so user keys can neither end the tag early nor collide with each other.

const NEEDS_ESCAPE_KEY = /[%{}]/;
const ESCAPE_KEY = /[%{}]/g;
const NEEDS_ESCAPE_COLLECTION = /[%{}:]/;
const ESCAPE_COLLECTION = /[%{}:]/g;

function percent(ch: string): string {
  return `%${ch.charCodeAt(0).toString(16).toUpperCase()}`;
}

/** `<prefix>{<collection>:<key>}`, escaped; the hash fields are listed in FIELDS. */
export function recordKey(prefix: string, collection: string, key: string): string {
  const c = NEEDS_ESCAPE_COLLECTION.test(collection) ? collection.replace(ESCAPE_COLLECTION, percent) : collection;
  const k = NEEDS_ESCAPE_KEY.test(key) ? key.replace(ESCAPE_KEY, percent) : key;
  return `${prefix}{${c}:${k}}`;
}

/** The pub/sub channel of the invalidation bus. */
export function channelName(prefix: string): string {
  return `${prefix}invalidate`;
}

/**
 * Hash fields. A record holds `body` (the bytes as stored), `meta` (what a read needs besides the body, packed:
 * see encodeMeta) and `version`; a tombstone (deletion) or marker (an update announced by an invalidation) holds
 * only `version` and `deleted` ('1' | '0'). A read is one HMGET of READ_FIELDS: two bulk strings, no parsing of
 * numbers from text and no hashing of the body (the ETag travels in `meta`). Measured (bench/_redis-fields in the
 * commit message): HMGET of the five fields body, type, version, updated_at, deleted plus a SHA-1 of the body per
 * read cost more per miss than these two.
 */
export const READ_FIELDS = ['body', 'meta'] as const;

const META_FORMAT = 1;
/** Bytes before the content type: format (1), ETag number (6), version (8, double), updated_at (8, double). */
const META_HEAD = 23;

/** The `meta` field of a record: format 1, its ETag number (48 bits), version, updated_at, then its content type (UTF-8). */
export function encodeMeta(etag: number, version: number, updatedAt: number, contentType: string): Buffer {
  const b = Buffer.allocUnsafe(META_HEAD + Buffer.byteLength(contentType));
  b[0] = META_FORMAT;
  b.writeUIntBE(etag, 1, 6);
  b.writeDoubleBE(version, 7);
  b.writeDoubleBE(updatedAt, 15);
  b.write(contentType, META_HEAD); // UTF-8: a type no validator saw (plain SQL) comes back as it was stored
  return b;
}

/** encodeMeta's fields, or undefined for a value this version does not understand (then the read is a miss). */
export function decodeMeta(b: Buffer): { etag: number; version: number; updatedAt: number; contentType: string } | undefined {
  if (b.length <= META_HEAD || b[0] !== META_FORMAT) return undefined;
  const version = b.readDoubleBE(7);
  const updatedAt = b.readDoubleBE(15);
  if (!Number.isSafeInteger(version) || !Number.isFinite(updatedAt)) return undefined;
  return { etag: b.readUIntBE(1, 6), version, updatedAt, contentType: b.toString('utf8', META_HEAD) };
}

// Shared guard. `cur` = HMGET version, deleted. A record at version V accepts only versions > V; a marker left by
// an update invalidation at V (deleted = '0') also accepts V itself, the version it announced.
const READ_CURRENT = `
local cur = redis.call('HMGET', KEYS[1], 'version', 'deleted')
local incoming = tonumber(ARGV[1])
local held = cur[1] and tonumber(cur[1])
`;

/**
 * KEYS[1] = record key; ARGV = version, body, meta (encodeMeta), ttl (ms). Returns 1 if stored. A record of the
 * same version written by an older floodgate (no `meta` field) is replaced, so an upgrade does not leave keys
 * that every read skips until they expire.
 */
export const SET_LUA = `${READ_CURRENT}
if held and (incoming < held or (incoming == held and (cur[2] == '1' or (not cur[2] and redis.call('HEXISTS', KEYS[1], 'meta') == 1)))) then return 0 end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'body', ARGV[2], 'meta', ARGV[3], 'version', ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return 1
`;

/**
 * KEYS[1] = record key; ARGV = version, deleted ('1' | '0'), ttl (ms). Replaces an older record or marker by a
 * tombstone/marker carrying the change's version. Returns 1 if it changed anything. A newer entry, the record the
 * change announced, or the same change again is left alone.
 */
export const INVALIDATE_LUA = `${READ_CURRENT}
if held then
  if held > incoming then return 0 end
  if held == incoming and (ARGV[2] == '0' or cur[2] == '1') then return 0 end
end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'version', ARGV[1], 'deleted', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
`;

export const SCRIPTS = {
  fgSet: { lua: SET_LUA, numberOfKeys: 1 },
  fgInvalidate: { lua: INVALIDATE_LUA, numberOfKeys: 1 },
} as const;

/** ttl ± 10 % (uniform), in whole ms and at least 1, so entries written together don't expire together. */
export function jitteredTtlMs(ttlSeconds: number, random: () => number = Math.random): number {
  return Math.max(1, Math.round(ttlSeconds * 1000 * (0.9 + 0.2 * random())));
}
