// floodgate seed: write the demo content (user ids 1..N, a deterministic 140-character string each).
import { seedDemo } from '../content/demo.ts';
import { openStore, storeOptions } from '../store/open.ts';
import { configFromArgs } from './config-args.ts';
import type { Command } from './main.ts';

const HELP = `floodgate seed: write the demo content into the store when its default collection is empty.

Usage: floodgate seed [--seed N] [--data-dir DIR | DATABASE_URL=postgres://…]

Writes user ids 1..N (default 100000) to the collection "default", each a deterministic 140-character string,
as the reference tutorial's endpoint served. floodgate serve does this by itself on an empty store.
`;

export const command: Command = {
  summary: 'write the demo content',
  async run(argv) {
    const loaded = configFromArgs('seed', argv, HELP);
    if (typeof loaded === 'number') return loaded;
    const { config } = loaded;
    const store = await openStore(storeOptions(config, { queueTimeoutMs: 30_000 }));
    try {
      const t0 = performance.now();
      const n = await seedDemo(store, config.seed, (done, total) => {
        if (process.stderr.isTTY) process.stderr.write(`\rseeding ${done}/${total}`);
      });
      if (process.stderr.isTTY) process.stderr.write('\r\x1b[K');
      process.stdout.write(n > 0 ? `seeded ${n} demo users in ${((performance.now() - t0) / 1000).toFixed(2)} s\n` : 'the default collection already has content; nothing seeded\n');
      return 0;
    } finally {
      await store.close();
    }
  },
};
