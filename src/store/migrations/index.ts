// The PostgreSQL schema's history, oldest first. A migration is never edited once released: add a new one.
// Each is SQL text built from the (quoted) schema name and the change-feed channel, so every object is
// schema-qualified: triggers then work whatever search_path the writing session uses.
import { m001Content } from './001-content.ts';
import { m002WriteDeadline } from './002-write-deadline.ts';

export interface MigrationNames {
  /** The schema as a quoted SQL identifier, e.g. "floodgate". */
  readonly schema: string;
  /** The NOTIFY channel name as a SQL string literal, e.g. 'floodgate_changes'. */
  readonly channel: string;
}

export interface Migration {
  /** Applied in increasing order; recorded in <schema>.migrations. */
  readonly id: number;
  readonly name: string;
  sql(names: MigrationNames): string;
}

export const MIGRATIONS: readonly Migration[] = [m001Content, m002WriteDeadline];
