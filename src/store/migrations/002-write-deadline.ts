// Writes carry a deadline in PostgreSQL's own clock and refuse to apply after it (see pg-clock.ts): a write
// whose caller was already answered with an error (it waited for a connection, sat in a socket buffer or behind
// another statement past its deadline) must never take effect later, on top of a newer acknowledged write.
// The statements test clock_timestamp() against the deadline after writing each row (so after any row-lock wait)
// and call this to abort the whole statement when it has passed.
import type { Migration } from './index.ts';

export const m002WriteDeadline: Migration = {
  id: 2,
  name: '002-write-deadline',
  sql: ({ schema: s }) => `
CREATE FUNCTION ${s}.deadline_passed() RETURNS bigint LANGUAGE plpgsql AS $fn$
BEGIN
  RAISE EXCEPTION 'the write reached PostgreSQL after its deadline and was not applied' USING ERRCODE = 'FG001';
END
$fn$;
`,
};
