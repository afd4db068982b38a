// Content, tombstones, the version sequence, and the triggers that make every write (ours or another
// application's plain SQL, TRUNCATE included) take a new version, leave a tombstone on delete, and NOTIFY the feed.
// Version stamping is per row (BEFORE); the bookkeeping after a write is per statement over transition tables,
// which keeps a 5,000-row batch to one tombstone query and one notify query instead of 5,000 of each.
import type { Migration } from './index.ts';

export const m001Content: Migration = {
  id: 1,
  name: '001-content',
  sql: ({ schema: s, channel }) => `
CREATE SEQUENCE ${s}.version_seq;

CREATE TABLE ${s}.content (
  collection   text        NOT NULL,
  key          text        NOT NULL,
  body         bytea       NOT NULL,
  content_type text        NOT NULL DEFAULT 'text/plain; charset=utf-8',
  version      bigint      NOT NULL, -- set by content_stamp, whatever the writer gives
  updated_at   timestamptz NOT NULL, -- likewise
  PRIMARY KEY (collection, key)
);
CREATE INDEX content_version_idx ON ${s}.content (version);

CREATE TABLE ${s}.tombstones (
  collection text        NOT NULL,
  key        text        NOT NULL,
  version    bigint      NOT NULL,
  deleted_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (collection, key)
);
CREATE INDEX tombstones_version_idx ON ${s}.tombstones (version);

-- The NOTIFY payload: small JSON. Payloads must stay under 8000 bytes: an oversized one becomes
-- {"version":v,"truncated":true} and listeners catch up through changesSince.
CREATE FUNCTION ${s}.change_payload(p_collection text, p_key text, p_version bigint, p_deleted boolean)
RETURNS text LANGUAGE sql STABLE AS $fn$
  SELECT CASE
    WHEN octet_length(json_build_object('collection', p_collection, 'key', p_key, 'version', p_version, 'deleted', p_deleted)::text) > 7900
    THEN json_build_object('version', p_version, 'truncated', true)::text
    ELSE json_build_object('collection', p_collection, 'key', p_key, 'version', p_version, 'deleted', p_deleted)::text
  END
$fn$;

-- Tombstones the given keys in order, each with a fresh version; answers the tombstones written.
CREATE TYPE ${s}.content_key AS (collection text, key text);
CREATE FUNCTION ${s}.tombstone(p_keys ${s}.content_key[]) RETURNS TABLE (collection text, key text, version bigint)
LANGUAGE sql VOLATILE AS $fn$
  INSERT INTO ${s}.tombstones AS t (collection, key, version)
    SELECT k.collection, k.key, nextval('${s}.version_seq')
    FROM unnest(p_keys) WITH ORDINALITY AS k (collection, key, n) ORDER BY k.n
  ON CONFLICT (collection, key) DO UPDATE SET version = EXCLUDED.version, deleted_at = now()
  RETURNING t.collection, t.key, t.version
$fn$;

-- Every inserted or updated row takes a fresh version and timestamp, whoever writes it and whatever it sets.
CREATE FUNCTION ${s}.content_stamp() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
  NEW.version := nextval('${s}.version_seq');
  NEW.updated_at := now();
  RETURN NEW;
END
$fn$;
CREATE TRIGGER content_stamp BEFORE INSERT OR UPDATE ON ${s}.content
  FOR EACH ROW EXECUTE FUNCTION ${s}.content_stamp();

-- Keys written: clear their tombstones and announce them.
CREATE FUNCTION ${s}.content_written() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
  DELETE FROM ${s}.tombstones t USING new_rows n WHERE t.collection = n.collection AND t.key = n.key;
  PERFORM pg_notify(${channel}, ${s}.change_payload(collection, key, version, false))
    FROM (SELECT collection, key, version FROM new_rows ORDER BY version) n;
  RETURN NULL;
END
$fn$;
CREATE TRIGGER content_inserted AFTER INSERT ON ${s}.content REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION ${s}.content_written();

-- Keys updated: as written, and a key renamed away (UPDATE ... SET key = ...) is a deletion of the old key.
CREATE FUNCTION ${s}.content_updated() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
  PERFORM pg_notify(${channel}, ${s}.change_payload(collection, key, version, true))
    FROM ${s}.tombstone(ARRAY(
      SELECT ROW(o.collection, o.key)::${s}.content_key FROM old_rows o
      WHERE NOT EXISTS (SELECT 1 FROM ${s}.content c WHERE c.collection = o.collection AND c.key = o.key)
      ORDER BY o.version));
  DELETE FROM ${s}.tombstones t USING new_rows n WHERE t.collection = n.collection AND t.key = n.key;
  PERFORM pg_notify(${channel}, ${s}.change_payload(collection, key, version, false))
    FROM (SELECT collection, key, version FROM new_rows ORDER BY version) n;
  RETURN NULL;
END
$fn$;
CREATE TRIGGER content_updated AFTER UPDATE ON ${s}.content REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION ${s}.content_updated();

-- Keys deleted: each leaves a tombstone carrying the deletion's own (newer) version, announced as deleted.
CREATE FUNCTION ${s}.content_deleted() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
  PERFORM pg_notify(${channel}, ${s}.change_payload(collection, key, version, true))
    FROM ${s}.tombstone(ARRAY(SELECT ROW(o.collection, o.key)::${s}.content_key FROM old_rows o ORDER BY o.version));
  RETURN NULL;
END
$fn$;
CREATE TRIGGER content_deleted AFTER DELETE ON ${s}.content REFERENCING OLD TABLE AS old_rows
  FOR EACH STATEMENT EXECUTE FUNCTION ${s}.content_deleted();

-- TRUNCATE fires no row triggers: tombstone every key first and announce one catch-up, so caches still learn.
CREATE FUNCTION ${s}.content_truncated() RETURNS trigger LANGUAGE plpgsql AS $fn$
DECLARE
  v bigint;
BEGIN
  SELECT max(t.version) INTO v
    FROM ${s}.tombstone(ARRAY(SELECT ROW(collection, key)::${s}.content_key FROM ${s}.content ORDER BY version)) t;
  IF v IS NOT NULL THEN
    PERFORM pg_notify(${channel}, json_build_object('version', v, 'truncated', true)::text);
  END IF;
  RETURN NULL;
END
$fn$;
CREATE TRIGGER content_truncated BEFORE TRUNCATE ON ${s}.content
  FOR EACH STATEMENT EXECUTE FUNCTION ${s}.content_truncated();

-- Deletes one key and answers the deletion's version (the tombstone the trigger wrote), or NULL if absent.
CREATE FUNCTION ${s}.delete_content(p_collection text, p_key text) RETURNS bigint LANGUAGE plpgsql AS $fn$
DECLARE
  v bigint;
BEGIN
  DELETE FROM ${s}.content WHERE collection = p_collection AND key = p_key;
  IF NOT FOUND THEN
    RETURN NULL;
  END IF;
  SELECT version INTO v FROM ${s}.tombstones WHERE collection = p_collection AND key = p_key;
  RETURN v;
END
$fn$;
`,
};
