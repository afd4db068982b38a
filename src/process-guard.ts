// The process-level guard of `floodgate serve` (primary and workers): what happens to an error that nothing
// caught. Installed by the serve command only, not by startApp, so that tests and embedders keep Node's own
// behaviour (a test's stray rejection must still fail that test).
//
// What is safe to survive, and what is not:
// - 'unhandledRejection': a promise rejected and nobody attached a handler. The throw unwound one async chain
//   (one request's answer, one background task) back to the microtask queue; no synchronous code was left
//   half-run, and our shared state is changed only in synchronous steps. The one thing lost is whatever that
//   chain was doing (for a request: its answer; the socket is closed by its timeouts). So it is logged with
//   its error, counted (floodgate_unhandled_rejections_total), and the process keeps serving: one bad record
//   or one forgotten catch must not take a worker down, and with it every request in flight on it. Node's
//   default, since v15, is to exit.
// - 'uncaughtException': a synchronous throw reached the event loop from a callback or event handler, which may
//   have stopped half-way through updating state (a connection pool's bookkeeping, a parser, our own maps).
//   Node's documentation is explicit that resuming after it is unsafe. It is logged (fatal, with the error, as
//   JSON like every other line) and the process exits 1, as Node would: the supervisor replaces a worker.
import type { Logger } from 'pino';

export interface ProcessGuard {
  /** Unhandled rejections survived so far. */
  readonly rejections: number;
  /** Removes the handlers. */
  uninstall(): void;
}

export function installProcessGuard(logger: Logger): ProcessGuard {
  let rejections = 0;
  const onRejection = (reason: unknown): void => {
    rejections++;
    logger.error({ err: reason, unhandledRejections: rejections }, 'unhandled promise rejection: logged and survived (a bug: please report it)');
  };
  const onException = (err: Error, origin: string): void => {
    logger.fatal({ err, origin }, 'uncaught exception: exiting, as state may be half-updated');
    logger.flush?.();
    process.exit(1);
  };
  process.on('unhandledRejection', onRejection);
  process.on('uncaughtException', onException);
  return {
    get rejections() {
      return rejections;
    },
    uninstall() {
      process.off('unhandledRejection', onRejection);
      process.off('uncaughtException', onException);
    },
  };
}
