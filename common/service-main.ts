import type { Logger } from './logger.js';

/**
 * Runs a service process: starts it, stops it gracefully on SIGTERM or
 * SIGINT, and exits non-zero when start-up fails (a bad setting included).
 * A second signal exits at once.
 */
export function runService(log: Logger, start: () => Promise<{ stop(): Promise<void> }>): void {
  process.on('unhandledRejection', (reason) => {
    log.error({ err: reason }, 'unhandled promise rejection');
  });
  start().then(
    (service) => {
      let signals = 0;
      const onSignal = (signal: NodeJS.Signals) => {
        signals++;
        if (signals > 1) process.exit(130);
        log.info({ signal }, 'received signal; shutting down');
        service.stop().then(
          () => process.exit(0),
          (error: unknown) => {
            log.error({ err: error }, 'shutdown failed');
            process.exit(1);
          },
        );
      };
      process.on('SIGTERM', onSignal);
      process.on('SIGINT', onSignal);
    },
    (error: unknown) => {
      log.fatal({ err: error }, `failed to start: ${error instanceof Error ? error.message : String(error)}`);
      process.exit(1);
    },
  );
}
