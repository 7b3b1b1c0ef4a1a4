import { spawn, type ChildProcess } from 'node:child_process';
import type { Readable } from 'node:stream';
import { LogStream } from '../../gen/faas/v1/job.js';

export interface ProcessOptions {
  file: string;
  args: string[];
  cwd: string;
  env: Record<string, string>;
  input: Buffer;
  /** Aborting kills the process and everything in its process group. */
  signal: AbortSignal;
  /**
   * Aborting sends SIGTERM to the process group, or calls `sendTerminate`
   * instead. `signal` still ends a program that keeps running.
   */
  terminate?: AbortSignal;
  /** Sends SIGTERM in place of the process group's, given the pid of the program that was started. */
  sendTerminate?: (pid: number) => void;
  /** Receives output as it is written; the stream pauses until the promise settles. */
  onOutput: (stream: LogStream, data: Buffer) => Promise<void>;
  /** Bytes of each stream kept in the result. */
  captureBytes: number;
  /** Opens a pipe as descriptor 3 of the program and returns what it wrote there as `status`. */
  statusPipe?: boolean;
}

export interface ProcessResult {
  exitCode?: number;
  signal?: string;
  /** Set when the program could not be started. */
  startError?: NodeJS.ErrnoException;
  stdout: Buffer;
  stderr: Buffer;
  stdoutTruncated: boolean;
  stderrTruncated: boolean;
  outputBytes: number;
  /** Text the program wrote to descriptor 3, with `statusPipe`. */
  status?: string;
}

/** How long output may keep flowing after the program exited. */
const closeWaitMs = 2_000;

class Capture {
  private readonly parts: Buffer[] = [];
  private kept = 0;
  truncated = false;

  constructor(private readonly limit: number) {}

  add(data: Buffer): void {
    const room = this.limit - this.kept;
    if (data.length > room) this.truncated = true;
    if (room <= 0) return;
    const part = data.length > room ? data.subarray(0, room) : data;
    this.parts.push(part);
    this.kept += part.length;
  }

  toBuffer(): Buffer {
    return Buffer.concat(this.parts);
  }
}

/**
 * Runs a program as the leader of a new process group, feeds it `input` on
 * stdin (/dev/null when `input` is empty) and streams its output. When the program exits, or `signal` aborts,
 * the whole group is killed, so background children do not outlive the job.
 */
export function runProcess(options: ProcessOptions): Promise<ProcessResult> {
  return new Promise((resolve) => {
    const stdout = new Capture(options.captureBytes);
    const stderr = new Capture(options.captureBytes);
    let outputBytes = 0;
    let status: string | undefined;
    const finish = (fields: Partial<ProcessResult>) =>
      resolve({
        ...fields,
        status,
        stdout: stdout.toBuffer(),
        stderr: stderr.toBuffer(),
        stdoutTruncated: stdout.truncated,
        stderrTruncated: stderr.truncated,
        outputBytes,
      });

    if (options.signal.aborted) return finish({ signal: 'SIGKILL' });
    // A program whose stop was requested before it started does not start.
    if (options.terminate?.aborted) return finish({ signal: 'SIGTERM' });
    let child: ChildProcess & { stdout: Readable; stderr: Readable };
    // Without input, stdin is /dev/null, which reads as the same end of file and saves a pipe per job.
    const stdin = options.input.length > 0 ? 'pipe' : 'ignore';
    try {
      child = spawn(options.file, options.args, {
        cwd: options.cwd,
        env: options.env,
        detached: true,
        stdio: options.statusPipe ? [stdin, 'pipe', 'pipe', 'pipe'] : [stdin, 'pipe', 'pipe'],
      }) as ChildProcess & { stdout: Readable; stderr: Readable };
    } catch (error) {
      // Some bad paths (ENOTDIR, ENAMETOOLONG) throw here instead of emitting 'error'.
      return finish({ startError: error as NodeJS.ErrnoException });
    }
    let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
    const killGroup = () => {
      if (child.pid === undefined) return;
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        // The group is already gone.
      }
    };
    options.signal.addEventListener('abort', killGroup, { once: true });
    const terminate = () => {
      if (child.pid === undefined || exit) return;
      if (options.sendTerminate) {
        options.sendTerminate(child.pid);
        return;
      }
      try {
        process.kill(-child.pid, 'SIGTERM');
      } catch {
        // The group is already gone.
      }
    };
    options.terminate?.addEventListener('abort', terminate, { once: true });

    const pump = (readable: Readable, stream: LogStream, capture: Capture) => {
      readable.on('data', (data: Buffer) => {
        outputBytes += data.length;
        capture.add(data);
        readable.pause();
        options.onOutput(stream, data).finally(() => readable.resume());
      });
    };
    pump(child.stdout, LogStream.LOG_STREAM_STDOUT, stdout);
    pump(child.stderr, LogStream.LOG_STREAM_STDERR, stderr);
    const statusStream = child.stdio[3] as Readable | null | undefined;
    if (statusStream) {
      status = '';
      statusStream.setEncoding('utf8');
      // A status is one short line; more is not a status.
      statusStream.on('data', (text: string) => {
        if (status !== undefined && status.length < 256) status += text;
      });
      statusStream.on('error', () => undefined);
    }

    child.stdin?.on('error', () => {
      // The program may exit or close stdin without reading all of its input.
    });
    child.stdin?.end(options.input);

    child.on('exit', (code, signal) => {
      exit = { code, signal };
      // Whatever the program left running in its group ends with it.
      killGroup();
      // A process that left the group may still hold the pipes open: stop
      // reading them after a short wait instead of waiting for it.
      setTimeout(() => {
        child.stdout.destroy();
        child.stderr.destroy();
        statusStream?.destroy();
      }, closeWaitMs).unref();
    });
    child.on('error', (error: NodeJS.ErrnoException) => {
      if (child.pid === undefined) {
        options.signal.removeEventListener('abort', killGroup);
        options.terminate?.removeEventListener('abort', terminate);
        finish({ startError: error });
      }
    });
    child.on('close', () => {
      options.signal.removeEventListener('abort', killGroup);
      options.terminate?.removeEventListener('abort', terminate);
      if (!exit) return;
      finish(exit.code === null ? { signal: exit.signal ?? 'SIGKILL' } : { exitCode: exit.code });
    });
  });
}
