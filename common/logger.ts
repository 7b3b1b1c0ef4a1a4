import { pino, type Logger } from 'pino';

export type { Logger };

/**
 * Creates the JSON logger of a service: one line per event on stdout, with
 * the service name on every line. LOG_LEVEL sets the level (default info).
 */
export function createLogger(service: string, level: string = process.env.LOG_LEVEL ?? 'info'): Logger {
  return pino({ name: service, level, base: { service, pid: process.pid } });
}
