import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';

/** A child process the benchmark started: redis-server or the BullMQ worker. */
export interface BenchProcess {
  readonly name: string;
  readonly pid: number;
  /** Resolves with the first stdout line that contains `text`; rejects when the process exits first or after `timeoutMs`. */
  waitForOutput(text: string, timeoutMs: number): Promise<string>;
  /** Sends SIGTERM to the pid, then SIGKILL after `graceMs`, and waits for the exit. */
  stop(graceMs?: number): Promise<void>;
  /** Writes `text` to the process's stdin; only for a process started with `input`. */
  write(text: string): void;
}

const running = new Set<ChildProcess>();
let exitHookInstalled = false;

/** Kills every child still running when the benchmark process exits, also after an uncaught error. */
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const child of running) {
      if (child.pid !== undefined) signalPid(child.pid, 'SIGKILL');
    }
  });
}

/** Starts `file` with `args`, appending its output to `logFile`; with `input`, its stdin is a pipe for `write`. */
export function startProcess(name: string, file: string, args: string[], options: { env?: NodeJS.ProcessEnv; logFile: string; input?: boolean }): BenchProcess {
  installExitHook();
  const log = createWriteStream(options.logFile, { flags: 'a' });
  const child = spawn(file, args, { env: options.env ?? process.env, stdio: [options.input ? 'pipe' : 'ignore', 'pipe', 'pipe'] });
  if (child.pid === undefined) throw new Error(`starting ${name} (${file}) failed: no pid; is it installed?`);
  const pid = child.pid;
  // A process that died is reported by waitForOutput.
  child.stdin?.on('error', () => undefined);
  running.add(child);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.once('exit', () => running.delete(child));
  child.stdout!.pipe(log, { end: false });
  child.stderr!.pipe(log, { end: false });
  let stdoutText = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    stdoutText = (stdoutText + chunk.toString()).slice(-16_384);
  });

  return {
    name,
    pid,
    waitForOutput(text, timeoutMs) {
      return new Promise<string>((resolve, reject) => {
        const done = (error?: Error, line?: string) => {
          clearTimeout(timer);
          child.stdout!.off('data', onData);
          child.off('exit', onExit);
          if (error) reject(error);
          else resolve(line!);
        };
        const onData = () => {
          // Complete lines only, so a line cut between two chunks is read whole.
          const line = stdoutText.split('\n').slice(0, -1).find((candidate) => candidate.includes(text));
          if (line !== undefined) done(undefined, line);
        };
        const onExit = (code: number | null, signal: string | null) =>
          done(new Error(`${name} (pid ${pid}) exited with ${signal ?? `code ${code}`} before it printed "${text}"; see ${options.logFile}`));
        const timer = setTimeout(() => done(new Error(`${name} (pid ${pid}) did not print "${text}" within ${timeoutMs} ms; see ${options.logFile}`)), timeoutMs);
        child.stdout!.on('data', onData);
        child.once('exit', onExit);
        onData();
      });
    },
    async stop(graceMs = 5_000) {
      if (child.exitCode === null && child.signalCode === null) {
        signalPid(pid, 'SIGTERM');
        const killTimer = setTimeout(() => signalPid(pid, 'SIGKILL'), graceMs);
        await exited;
        clearTimeout(killTimer);
      }
      log.end();
    },
    write(text) {
      if (!child.stdin) throw new Error(`${name} was started without input`);
      child.stdin.write(text);
    },
  };
}

/** Sends `signal` to `pid`, ignoring a process that has already exited. */
function signalPid(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
  }
}

/** Returns the variable `name` that `starter` set for this process, a child of the benchmark; throws when it is missing. */
export function requiredEnv(name: string, starter: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set; ${starter} sets it when it starts this process`);
  return value;
}
