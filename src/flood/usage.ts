// A usage error is the user's mistake (a bad flag, a malformed threshold, an unreadable CSV): the CLI prints its
// message and exits 2. Everything else that throws is a bug or an environment failure.
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export function isUsageError(err: unknown): err is UsageError {
  return err instanceof UsageError;
}
