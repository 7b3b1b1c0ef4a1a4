import { once } from 'node:events';
import type { Readable, Writable } from 'node:stream';

/** A writable stream that may be a terminal, like process.stderr. `columns` is the terminal width. */
export type OutputStream = Writable & { isTTY?: boolean; columns?: number };

/** Streams, environment and cancellation of one CLI run, injectable for tests. */
export interface CliIo {
  stdout: OutputStream;
  stderr: OutputStream;
  stdin: Readable;
  env: Record<string, string | undefined>;
  /** Aborts the command in progress, for example on Ctrl-C. */
  signal?: AbortSignal;
}

/** Abort reason when the user pressed Ctrl-C (SIGINT). */
export class InterruptedError extends Error {
  override readonly name = 'InterruptedError';

  constructor() {
    super('interrupted');
  }
}

/**
 * Returns the I/O of this process. The first SIGINT aborts the signal, so the
 * command can stop its calls and exit 130. A second SIGINT ends the process as
 * usual. A reader that closes stdout early (`faas logs ID | head`) aborts it
 * too, instead of crashing the process with EPIPE.
 */
export function processIo(): CliIo {
  const controller = new AbortController();
  process.once('SIGINT', () => controller.abort(new InterruptedError()));
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    const reason = error.code === 'EPIPE' ? new Error('standard output was closed by its reader') : error;
    controller.abort(reason);
  });

  return {
    stdout: process.stdout,
    stderr: process.stderr,
    stdin: process.stdin,
    env: process.env,
    signal: controller.signal,
  };
}

/** Streams whose output so far ends inside a line, without its newline. */
const openLines = new WeakSet<Writable>();

/** Writes `data` and waits for the stream to drain when its buffer is full. */
export async function writeAll(stream: Writable, data: string | Uint8Array, signal?: AbortSignal): Promise<void> {
  if (data.length > 0) {
    const last = typeof data === 'string' ? data.charCodeAt(data.length - 1) : data[data.length - 1];
    if (last === newline) openLines.delete(stream);
    else openLines.add(stream);
  }
  if (stream.write(data)) return;
  await once(stream, 'drain', { signal });
}

const newline = 0x0a;

/**
 * Ends the line that the output written to `stream` left open, so that what
 * follows starts a line of its own. With `onlyTerminal`, a stream that is
 * not a terminal keeps the job's bytes as they were.
 */
export async function endOpenLine(stream: OutputStream, signal?: AbortSignal, options: { onlyTerminal?: boolean } = {}): Promise<void> {
  if (!openLines.has(stream) || (options.onlyTerminal && !stream.isTTY)) return;
  await writeAll(stream, '\n', signal);
}

/**
 * Ends the lines that a job's output left open on a terminal, where the
 * shell prompt, or npx clearing its progress line, would hide the last one.
 */
export async function endOpenLines(io: CliIo, signal?: AbortSignal): Promise<void> {
  await endOpenLine(io.stdout, signal, { onlyTerminal: true });
  await endOpenLine(io.stderr, signal, { onlyTerminal: true });
}
