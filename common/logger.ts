import { trace } from '@opentelemetry/api';
import { pino, type DestinationStream, type Logger } from 'pino';

export type { Logger };

/** How long a log line may wait for later lines to share its write. */
const batchWindowMs = 25;

/**
 * Collects lines and writes them with one call once `windowMs` has passed
 * since the first of them, or at once on `flush`. A service under load logs
 * several lines per job, and a write per line cost more than the lines themselves.
 */
export class LineBatcher implements DestinationStream {
  private pending: string[] = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly sink: (text: string) => void,
    private readonly windowMs: number = batchWindowMs,
  ) {}

  write(line: string): void {
    this.pending.push(line);
    // Unreferenced, so that it never keeps a process alive; the exit handler writes what is left.
    this.timer ??= setTimeout(() => this.flush(), this.windowMs).unref();
  }

  /** Writes the waiting lines now. */
  flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.pending.length === 0) return;
    const text = this.pending.join('');
    this.pending = [];
    this.sink(text);
  }
}

let stdout: LineBatcher | undefined;

/**
 * Standard output, shared by the loggers of the process, in batches (see
 * LineBatcher). The lines still waiting when the process exits are written
 * then. A process killed by a signal that it cannot handle loses at most
 * the last `batchWindowMs` of lines.
 */
function sharedStdout(): DestinationStream {
  if (!stdout) {
    // pino's synchronous destination retries a full pipe (EAGAIN) until the write is done.
    const destination = pino.destination({ dest: 1, sync: true });
    const batcher = new LineBatcher((text) => destination.write(text));
    process.on('exit', () => batcher.flush());
    stdout = batcher;
  }
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
