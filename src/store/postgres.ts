// Placeholder until the PostgreSQL store lands (step 3).
import { StoreUnavailableError } from './errors.ts';
import type { Store } from './store.ts';

export interface PostgresStoreOptions {
  readonly url: string;
  readonly poolSize: number;
  readonly queueTimeoutMs: number;
  readonly schema: string;
}

export async function openPostgresStore(opts: PostgresStoreOptions): Promise<Store> {
  throw new StoreUnavailableError(`the PostgreSQL store is not built yet (${opts.schema})`);
}
