import { spawn, type ChildProcess } from 'node:child_process';
import type { Readable } from 'node:stream';
import { LogStream } from '../../gen/faas/v1/job.js';
import { LauncherError, signalGroup, type LaunchedProcess, type LaunchRequest, type ProcessExit, type ProcessLauncher } from './launcher/launcher.js';

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
  /** Starts the program in place of child_process.spawn, which costs the worker about 2 ms of CPU per program. */
  launcher?: ProcessLauncher;
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
 * stdin (/dev/null when `input` is empty) and streams its output. When the
 * program exits, or `signal` aborts, the whole group is killed, so
 * background children do not outlive the job. With `launcher`, the program
 * starts through it, or with Node.js when the launcher is off. Rejects only
 * when the launcher stopped while the program ran.
 */
export async function runProcess(options: ProcessOptions): Promise<ProcessResult> {
  const stdout = new Capture(options.captureBytes);
  const stderr = new Capture(options.captureBytes);
  let outputBytes = 0;
  let status: string | undefined;
  const result = (fields: Partial<ProcessResult>): ProcessResult => ({
    ...fields,
    status,
    stdout: stdout.toBuffer(),
    stderr: stderr.toBuffer(),
    stdoutTruncated: stdout.truncated,
    stderrTruncated: stderr.truncated,
    outputBytes,
  });

  if (options.signal.aborted) return result({ signal: 'SIGKILL' });
  // A program whose stop was requested before it started does not start.
  if (options.terminate?.aborted) return result({ signal: 'SIGTERM' });
  let child: LaunchedProcess;
  try {
    child = await start(options);
  } catch (error) {
    return result({ startError: error as NodeJS.ErrnoException });
  }

  let exited = false;
  const killGroup = () => signalGroup(child.pid, 'SIGKILL');
  const terminate = () => {
    if (exited) return;
    if (options.sendTerminate) options.sendTerminate(child.pid);
    else signalGroup(child.pid, 'SIGTERM');
  };
  options.signal.addEventListener('abort', killGroup, { once: true });
  options.terminate?.addEventListener('abort', terminate, { once: true });
  // Aborted while the program started.
  if (options.signal.aborted) killGroup();
  else if (options.terminate?.aborted) terminate();

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
  const readables = [child.stdout, child.stderr];
  if (child.status) {
    const statusStream = child.status;
    readables.push(statusStream);
    status = '';
    statusStream.setEncoding('utf8');
    // A status is one short line; more is not a status.
    statusStream.on('data', (text: string) => {
      if (status !== undefined && status.length < 256) status += text;
    });
    statusStream.on('error', () => undefined);
  }
  const closed = Promise.all(readables.map((readable) => new Promise((resolve) => (readable.closed ? resolve(undefined) : readable.once('close', resolve)))));

  child.stdin?.on('error', () => {
    // The program may exit or close stdin without reading all of its input.
  });
  child.stdin?.end(options.input);

  try {
    const exit = await child.exited;
    exited = true;
    // Whatever the program left running in its group ends with it.
    killGroup();
    // A process that left the group may still hold the pipes open: stop
    // reading them after a short wait instead of waiting for it.
    const timer = setTimeout(() => {
      for (const readable of readables) readable.destroy();
    }, closeWaitMs);
    await closed;
    clearTimeout(timer);
    return result(exit.code === null ? { signal: exit.signal ?? 'SIGKILL' } : { exitCode: exit.code });
  } catch (error) {
    for (const readable of readables) readable.destroy();
    child.stdin?.destroy();
    throw error;
  } finally {
    options.signal.removeEventListener('abort', killGroup);
    options.terminate?.removeEventListener('abort', terminate);
  }
}

/** Starts the program through the launcher, or with Node.js without one or when it is off. */
async function start(options: ProcessOptions): Promise<LaunchedProcess> {
  const request: LaunchRequest = {
    file: options.file,
    args: options.args,
    cwd: options.cwd,
    env: options.env,
    // Without input, stdin is /dev/null, which reads as the same end of file and saves a pipe per job.
    stdin: options.input.length > 0,
    statusPipe: options.statusPipe === true,
  };
  if (options.launcher) {
    try {
      return await options.launcher.launch(request);
    } catch (error) {
      if (!(error instanceof LauncherError)) throw error;
    }
  }
  return spawnWithNode(request);
}

/** Starts a program with child_process.spawn; rejects when it cannot start. */
function spawnWithNode(request: LaunchRequest): Promise<LaunchedProcess> {
  return new Promise((resolve, reject) => {
    const stdin = request.stdin ? 'pipe' : 'ignore';
    let child: ChildProcess;
    try {
      child = spawn(request.file, request.args, {
        cwd: request.cwd,
        env: request.env,
        detached: true,
        stdio: request.statusPipe ? [stdin, 'pipe', 'pipe', 'pipe'] : [stdin, 'pipe', 'pipe'],
      });
    } catch (error) {
      // Some bad paths (ENOTDIR, ENAMETOOLONG) throw here instead of emitting 'error'.
      reject(error);
      return;
    }
    const exited = new Promise<ProcessExit>((resolveExit) => child.once('exit', (code, signal) => resolveExit({ code, signal })));
    child.once('spawn', () =>
      resolve({
        pid: child.pid!,
        stdin: child.stdin ?? undefined,
        stdout: child.stdout!,
        stderr: child.stderr!,
        status: (child.stdio[3] as Readable | null) ?? undefined,
        exited,
      }),
    );
    child.on('error', (error) => {
      if (child.pid === undefined) reject(error);
    });
  });
}
