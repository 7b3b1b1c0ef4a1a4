import { trace } from '@opentelemetry/api';
import { pino, type DestinationStream, type Logger } from 'pino';

export type { Logger };

let stdout: DestinationStream | undefined;

/**
 * Standard output, written asynchronously and shared by the loggers of the
 * process. A line waits only while the write before it is in flight, so a
 * busy service writes many lines in one call instead of one call per line.
 * pino writes out what is left synchronously when the process exits.
 */
function sharedStdout(): DestinationStream {
  stdout ??= pino.destination({ dest: 1, sync: false });
  return stdout;
}

/**
 * Creates the JSON logger of a service: one line per event on stdout, with
 * the service name on every line, and `trace_id` and `span_id` on lines
 * written inside a span. LOG_LEVEL sets the level (default info).
 */
export function createLogger(service: string, level: string = process.env.LOG_LEVEL ?? 'info'): Logger {
  return pino({ name: service, level, base: { service, pid: process.pid }, mixin: traceFields }, sharedStdout());
}

function traceFields(): Record<string, string> {
  const span = trace.getActiveSpan();
  if (!span) return {};
  const { traceId, spanId, traceFlags } = span.spanContext();
  if (!trace.isSpanContextValid(span.spanContext())) return {};
  return { trace_id: traceId, span_id: spanId, trace_flags: `0${traceFlags.toString(16)}`.slice(-2) };
}
