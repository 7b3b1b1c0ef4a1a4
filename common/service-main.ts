import { createLogger, type Logger } from './logger.js';
import type { Readiness } from './readiness.js';
import { startTelemetry } from './telemetry.js';
import { errorMessage } from './errors.js';

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
      log.fatal({ err: error }, `failed to start: ${errorMessage(error)}`);
      process.exit(1);
    },
  );
}

/** Service handle that a start function returns to `runTelemetryService`. */
export interface ObservableService {
  readiness: Readiness;
  stop(): Promise<void>;
}

/**
 * Runs a service process with telemetry. It starts OpenTelemetry first, then
 * the service, whose modules `start` must import dynamically so that the
 * gRPC instrumentation can patch @grpc/grpc-js as it loads. Then it serves
 * `/metrics` and `/healthz` on FAAS_METRICS_ADDRESS when it is set.
 * Stopping flushes the spans after the service stops.
 */
export function runTelemetryService(name: string, start: (log: Logger) => Promise<ObservableService>): void {
  const log = createLogger(name);
  runService(log, async () => {
    const telemetry = await startTelemetry({ serviceName: `faas-${name}`, log });
    const service = await start(log);
    await telemetry.serveMetrics(service.readiness);
    return {
      async stop() {
        await service.stop();
        await telemetry.shutdown();
      },
    };
  });
}
