import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, constants, openSync } from 'node:fs';
import { Socket } from 'node:net';
import { constants as osConstants } from 'node:os';
import type { Readable, Writable } from 'node:stream';
import type { Logger } from 'pino';
import { getSystemErrorName } from 'node:util';

/** A program to start, as `child_process.spawn` takes it with `detached: true`. */
export interface LaunchRequest {
  file: string;
  args: string[];
  cwd: string;
  /** The program's entire environment; PATH is looked up in it. */
  env: Record<string, string>;
  /** A pipe as stdin; without it, stdin reads /dev/null. */
  stdin: boolean;
  /** A pipe as descriptor 3. */
  statusPipe: boolean;
}

/** The end of a program: its exit code, or the signal that killed it. */
export interface ProcessExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** A program that started, the leader of its own process group. */
export interface LaunchedProcess {
  pid: number;
  stdin?: Writable;
  stdout: Readable;
  stderr: Readable;
  /** The read end of descriptor 3, with `statusPipe`. */
  status?: Readable;
  /** Settles when the program ends; rejects with a LauncherError when the launcher stopped first. */
  exited: Promise<ProcessExit>;
}

/**
 * Error of the launcher itself: it cannot start programs, or it stopped while
 * one ran, so how that program ended is unknown. A program that cannot start
 * rejects with its system error (ENOENT and the like) instead.
 */
export class LauncherError extends Error {
  override name = 'LauncherError';
}

/** Launcher processes in a row that may stop without starting a program before the launcher gives up. */
const maxFruitlessRestarts = 3;

/**
 * Starts programs through the launcher program (see program.ts), which
 * forks far more cheaply than the worker. A launcher process that stops is
 * replaced at the next launch. After three in a row that stopped without
 * starting a program, or when the worker cannot open the pipes of a started
 * program, every launch rejects with a LauncherError, and callers start
 * programs with Node.js instead.
 */
export class ProcessLauncher {
  private current?: LauncherProcess;
  private fruitlessRestarts = 0;
  private disabled?: LauncherError;

  /** `program` is the compiled launcher (see `buildSandboxPrograms`). */
  constructor(
    private readonly program: string,
    private readonly log?: Logger,
  ) {}

  /** Starts a program; rejects with its system error when it cannot start, or with a LauncherError while the launcher is off. */
  launch(request: LaunchRequest): Promise<LaunchedProcess> {
    if (this.disabled) return Promise.reject(this.disabled);
    if (this.current && !this.current.running) {
      this.fruitlessRestarts = this.current.startedAny ? 0 : this.fruitlessRestarts + 1;
      if (this.fruitlessRestarts >= maxFruitlessRestarts) {
        this.disable(`the process launcher stopped ${maxFruitlessRestarts} times without starting a program (${this.current.lost?.message})`);
        return Promise.reject(this.disabled!);
      }
      this.current = undefined;
    }
    this.current ??= new LauncherProcess(this.program, this.log, (reason) => this.disable(reason));
    return this.current.launch(request);
  }

  /** The process id of the current launcher process, if one runs. */
  get pid(): number | undefined {
    return this.current?.running ? this.current.pid : undefined;
  }

  /**
   * Ends the launcher process once it has read what was sent, and waits up to
   * `waitMs` for it to exit, so that the worker can reap it. Programs it
   * started keep running.
   */
  async stop(waitMs = 2_000): Promise<void> {
    await this.current?.stop(waitMs);
  }

  private disable(reason: string): void {
    if (this.disabled) return;
    this.disabled = new LauncherError(reason);
    this.log?.warn({ reason }, 'the process launcher is off; the worker starts programs with Node.js, at about 2 ms more CPU each');
    void this.current?.stop(0);
  }
}

interface PendingStart {
  file: string;
  resolve: (launched: LaunchedProcess) => void;
  reject: (error: Error) => void;
}

interface PendingExit {
  pid: number;
  resolve: (exit: ProcessExit) => void;
  reject: (error: Error) => void;
}

/** One launcher process and the programs it started. */
class LauncherProcess {
  lost?: LauncherError;
  startedAny = false;
  private readonly child: ChildProcess;
  private nextId = 1;
  private readonly starts = new Map<number, PendingStart>();
  private readonly exits = new Map<number, PendingExit>();
  private unread = '';

  constructor(
    program: string,
    private readonly log: Logger | undefined,
    private readonly disable: (reason: string) => void,
  ) {
    this.child = spawn(program, [String(process.pid)], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.stdout!.setEncoding('utf8');
    this.child.stdout!.on('data', (text: string) => this.read(text));
    this.child.stderr!.setEncoding('utf8');
    this.child.stderr!.on('data', (text: string) => this.log?.warn({ output: text.trim() }, 'the process launcher wrote to stderr'));
    // A launcher that died is reported by 'close'.
    this.child.stdin!.on('error', () => undefined);
    this.child.on('error', (error) => this.fail(new LauncherError(`starting the process launcher ${program} failed: ${error.message}`)));
    this.child.on('close', (code, signal) => this.fail(new LauncherError(`the process launcher stopped with ${signal ?? `exit code ${code}`}`)));
    // An idle launcher does not keep the worker's process alive (see `holdWhileBusy`).
    this.child.unref();
    for (const stream of [this.child.stdin, this.child.stdout, this.child.stderr]) (stream as Socket | null)?.unref();
  }

  /** Keeps the worker's process alive while a program starts or runs, for the launcher's reply. */
  private holdWhileBusy(): void {
    const replies = this.child.stdout as Socket;
    if (this.starts.size + this.exits.size > 0) replies.ref();
    else replies.unref();
  }

  /** The launcher's process id. */
  get pid(): number | undefined {
    return this.child.pid;
  }

  get running(): boolean {
    return this.lost === undefined;
  }

  launch(request: LaunchRequest): Promise<LaunchedProcess> {
    if (this.lost) return Promise.reject(this.lost);
    const id = this.nextId++;
    const frame = spawnFrame(id, request);
    return new Promise((resolve, reject) => {
      this.starts.set(id, { file: request.file, resolve, reject });
      this.holdWhileBusy();
      this.child.stdin!.write(frame);
    });
  }

  async stop(waitMs: number): Promise<void> {
    this.child.stdin!.end();
    if (this.child.exitCode !== null || this.child.signalCode !== null || this.child.pid === undefined) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      new Promise((resolve) => this.child.once('exit', resolve)),
      new Promise((resolve) => (timer = setTimeout(resolve, waitMs))),
    ]);
    clearTimeout(timer);
  }

  private read(text: string): void {
    this.unread += text;
    for (let newline = this.unread.indexOf('\n'); newline >= 0; newline = this.unread.indexOf('\n')) {
      const line = this.unread.slice(0, newline);
      this.unread = this.unread.slice(newline + 1);
      this.handle(line);
    }
    this.holdWhileBusy();
  }

  private handle(line: string): void {
    const [verb, ...fields] = line.split(' ');
    const [id, ...numbers] = fields.map(Number);
    if (verb === 'started') return this.started(id, numbers);
    if (verb === 'failed') {
      const start = this.starts.get(id);
      this.starts.delete(id);
      start?.reject(startError(start.file, numbers[0]));
      return;
    }
    if (verb === 'exited') {
      const exit = this.exits.get(id);
      this.exits.delete(id);
      const [code, signal] = numbers;
      exit?.resolve({ code: code >= 0 ? code : null, signal: signal > 0 ? signalName(signal) : null });
      return;
    }
    this.log?.warn({ line }, 'the process launcher wrote a line the worker does not know');
  }

  private started(id: number, [pid, stdout, stderr, status, stdin]: number[]): void {
    const start = this.starts.get(id);
    this.starts.delete(id);
    if (!start) return;
    this.startedAny = true;
    const exited = new Promise<ProcessExit>((resolve, reject) => this.exits.set(id, { pid, resolve, reject }));
    // A caller that gave up on the program does not wait for its end.
    exited.catch(() => undefined);
    const opened: Socket[] = [];
    try {
      const open = (fd: number, mode: 'read' | 'write') => {
        const socket = this.openPipe(fd, mode);
        opened.push(socket);
        return socket;
      };
      const launched: LaunchedProcess = {
        pid,
        stdout: open(stdout, 'read'),
        stderr: open(stderr, 'read'),
        status: status >= 0 ? open(status, 'read') : undefined,
        stdin: stdin >= 0 ? open(stdin, 'write') : undefined,
        exited,
      };
      this.child.stdin!.write(frame(['taken', String(id)]));
      start.resolve(launched);
    } catch (error) {
      for (const socket of opened) socket.destroy();
      signalGroup(pid, 'SIGKILL');
      this.child.stdin!.write(frame(['taken', String(id)]));
      const reason = `opening the pipes of a program that the process launcher started failed: ${(error as Error).message}`;
      start.reject(new LauncherError(reason));
      this.disable(reason);
    }
  }

  /** Opens the worker's end of a pipe that the launcher made, through the launcher's descriptor table. */
  private openPipe(fd: number, mode: 'read' | 'write'): Socket {
    const flags = (mode === 'read' ? constants.O_RDONLY : constants.O_WRONLY) | constants.O_NONBLOCK;
    const handle = openSync(`/proc/${this.child.pid}/fd/${fd}`, flags);
    try {
      return new Socket({ fd: handle, readable: mode === 'read', writable: mode === 'write' });
    } catch (error) {
      closeSync(handle);
      throw error;
    }
  }

  private fail(error: LauncherError): void {
    if (this.lost) return;
    this.lost = error;
    if (this.exits.size > 0 || this.starts.size > 0) this.log?.warn({ err: error, running: this.exits.size }, 'the process launcher stopped while it had programs');
    for (const start of this.starts.values()) start.reject(error);
    this.starts.clear();
    // How these end cannot be known any more, so they end now.
    for (const exit of this.exits.values()) {
      signalGroup(exit.pid, 'SIGKILL');
      exit.reject(error);
    }
    this.exits.clear();
  }
}

function spawnFrame(id: number, request: LaunchRequest): Buffer {
  const flags = (request.stdin ? 1 : 0) | (request.statusPipe ? 2 : 0);
  const env = Object.entries(request.env).map(([name, value]) => `${name}=${value}`);
  const argv = [request.file, ...request.args];
  return frame(['spawn', String(id), String(flags), request.cwd, request.file, String(argv.length), ...argv, String(env.length), ...env]);
}

/** Encodes a request: its length as 4 bytes, little-endian, then NUL-terminated strings. */
function frame(strings: string[]): Buffer {
  for (const text of strings) {
    // As child_process.spawn rejects them: a NUL would end the string early.
    if (text.includes('\0')) throw Object.assign(new TypeError(`invalid argument ${JSON.stringify(text)}: expected a string without null bytes`), { code: 'ERR_INVALID_ARG_VALUE' });
  }
  const body = Buffer.from(strings.join('\0') + '\0');
  const header = Buffer.alloc(4);
  header.writeUInt32LE(body.length);
  return Buffer.concat([header, body]);
}

/** Builds the error that child_process.spawn gives for a program that could not start. */
function startError(file: string, errno: number): NodeJS.ErrnoException {
  const code = getSystemErrorName(-errno);
  return Object.assign(new Error(`spawn ${file} ${code}`), { errno: -errno, code, syscall: `spawn ${file}`, path: file });
}

function signalName(signal: number): NodeJS.Signals {
  const entry = Object.entries(osConstants.signals).find(([, number]) => number === signal);
  return (entry?.[0] ?? 'SIGKILL') as NodeJS.Signals;
}

/** Sends `signal` to the process group that `pid` leads, if it is still there. */
export function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // The group is already gone.
  }
}
