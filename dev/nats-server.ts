import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { findCommand } from './system-packages.js';

/** A nats-server process with JetStream, started by this harness on 127.0.0.1. */
export interface NatsServerHandle {
  readonly url: string;
  readonly port: number;
  readonly storeDir: string;
  readonly pid: number;
  /** False once the process has exited, until restart(). */
  readonly running: boolean;
  /**
   * Sends SIGTERM and waits for the exit, sending SIGKILL after 5 s. Removes the
   * store dir when the harness created it, unless `keepStoreDir` is set.
   */
  stop(options?: { keepStoreDir?: boolean }): Promise<void>;
  /** Sends SIGKILL and waits for the exit. The store dir stays, as after a crash. */
  kill(): Promise<void>;
  /** Starts a new process on the same port and store dir after kill() or stop({ keepStoreDir: true }). */
  restart(): Promise<void>;
}

export interface NatsServerOptions {
  /** Client port. A free port is picked when missing. */
  port?: number;
  /** JetStream store dir. When missing, a temporary dir is created, and stop() removes it. */
  storeDir?: string;
  /** File that receives the server's log output, appended. */
  logFile?: string;
}

const readyTimeoutMs = 10_000;
const stopGraceMs = 5_000;
const outputTailBytes = 8_192;

// Servers still running when the test process exits are killed, so none outlives it.
// NOTE: this does not cover a test process that is itself killed with SIGKILL.
const runningServers = new Set<ChildProcess>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) {
    return;
  }
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const child of runningServers) {
      child.kill('SIGKILL');
    }
  });
}

/** Lowest port of the range that Linux hands out for outgoing connections and port-0 listeners. */
function ephemeralPortFloor(): number {
  try {
    const [low] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    return Number.isInteger(low) ? low : 32_768;
  } catch {
    return 32_768;
  }
}

/** Lowest port that `findFreePort` picks. */
const pickedPortFloor = 10_000;
/** Ports `findFreePort` returned, which it does not return again: a caller may not have bound one yet. */
const portsHandedOut = new Set<number>();

/**
 * Returns a loopback port that is free now, for a process that binds it
 * later. The port comes from below the ephemeral range, so that no outgoing
 * connection or port-0 listener of another program takes it in between,
 * which a busy machine makes likely. Falls back to a port-0 pick when that
 * range is too small.
 */
export async function findFreePort(): Promise<number> {
  const ceiling = ephemeralPortFloor();
  for (let tries = 0; ceiling - pickedPortFloor >= 1_000 && tries < 50; tries++) {
    const port = pickedPortFloor + Math.floor(Math.random() * (ceiling - pickedPortFloor));
    if (portsHandedOut.has(port) || (await listenOnce(port)) === undefined) continue;
    portsHandedOut.add(port);
    return port;
  }
  const port = await listenOnce(0);
  if (port === undefined) throw new Error('no free port on 127.0.0.1');
  return port;
}

/** Listens on `port` of 127.0.0.1 and closes again; returns the port it got, or undefined when it was taken. */
async function listenOnce(port: number): Promise<number | undefined> {
  const server = createServer();
  const listening = await new Promise<boolean>((resolve) => {
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => resolve(true));
  });
  if (!listening) return undefined;
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return address !== null && typeof address !== 'string' ? address.port : undefined;
}

/** One nats-server child process and the last part of its output. */
class ServerProcess {
  readonly exited: Promise<void>;
  private outputTail = '';
  private exitDescription: string | undefined;

  constructor(
    readonly child: ChildProcess,
    logFile: string | undefined,
  ) {
    runningServers.add(child);
    const logStream = logFile === undefined ? undefined : createWriteStream(logFile, { flags: 'a' });

    this.exited = new Promise((resolve) => {
      const finish = (description: string): void => {
        if (this.exitDescription === undefined) {
          this.exitDescription = description;
        }
        runningServers.delete(child);
        logStream?.end();
        resolve();
      };
      // 'close' comes after the output streams are drained, unlike 'exit'.
      child.once('close', (code, signal) => finish(signal === null ? `exit code ${code}` : `signal ${signal}`));
      child.once('error', (error) => finish(`spawn error: ${error.message}`));
    });

    for (const stream of [child.stdout, child.stderr]) {
      stream?.on('data', (chunk: Buffer) => {
        logStream?.write(chunk);
        this.outputTail = (this.outputTail + chunk.toString('utf8')).slice(-outputTailBytes);
      });
    }
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  get hasExited(): boolean {
    return this.exitDescription !== undefined;
  }

  describeFailure(): string {
    const state = this.exitDescription === undefined ? 'still running' : `exited with ${this.exitDescription}`;
    return `nats-server (pid ${this.pid}) ${state}. Last output:\n${this.outputTail}`;
  }

  async terminate(signal: NodeJS.Signals): Promise<void> {
    if (!this.hasExited) {
      this.child.kill(signal);
    }
    await this.exited;
  }
}

/**
 * Starts `nats-server -js` on 127.0.0.1 and waits until JetStream is enabled
 * and the client port accepts connections. Throws with the server's last
 * output when it is not ready within 10 s.
 */
export async function startNatsServer(options: NatsServerOptions = {}): Promise<NatsServerHandle> {
  const executable = findCommand('nats-server');
  if (executable === undefined) {
    throw new Error('nats-server not found in PATH or /usr/sbin. Install it with: sudo apt-get install -y nats-server');
  }
  installExitHook();

  const port = options.port ?? (await findFreePort());
  const ownsStoreDir = options.storeDir === undefined;
  const storeDir = options.storeDir ?? (await mkdtemp(join(tmpdir(), 'faas-nats-')));
  const logFile = options.logFile;

  let current: ServerProcess;
  try {
    current = await launch(executable, port, storeDir, logFile);
  } catch (error) {
    if (ownsStoreDir) {
      await rm(storeDir, { recursive: true, force: true });
    }
    throw error;
  }
  let storeDirRemoved = false;

  return {
    url: `nats://127.0.0.1:${port}`,
    port,
    storeDir,
    get pid() {
      return current.pid;
    },
    get running() {
      return !current.hasExited;
    },

    async stop(stopOptions = {}) {
      const graceful = current.terminate('SIGTERM');
      const timer = setTimeout(() => current.child.kill('SIGKILL'), stopGraceMs);
      await graceful;
      clearTimeout(timer);
      if (ownsStoreDir && stopOptions.keepStoreDir !== true && !storeDirRemoved) {
        await rm(storeDir, { recursive: true, force: true });
        storeDirRemoved = true;
      }
    },

    async kill() {
      await current.terminate('SIGKILL');
    },

    async restart() {
      if (!current.hasExited) {
        throw new Error(`nats-server (pid ${current.pid}) is still running: call kill() or stop() before restart()`);
      }
      if (storeDirRemoved) {
        throw new Error(`Store dir ${storeDir} was removed by stop(): pass { keepStoreDir: true } to stop() to restart`);
      }
      current = await launch(executable, port, storeDir, logFile);
    },
  };
}

async function launch(
  executable: string,
  port: number,
  storeDir: string,
  logFile: string | undefined,
): Promise<ServerProcess> {
  const monitorPort = await findFreePort();
  const args = ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', storeDir, '-m', String(monitorPort)];
  const server = new ServerProcess(spawn(executable, args, { stdio: ['ignore', 'pipe', 'pipe'] }), logFile);

  try {
    await waitUntilReady(server, port, monitorPort);
  } catch (error) {
    await server.terminate('SIGKILL');
    throw error;
  }
  return server;
}

async function waitUntilReady(server: ServerProcess, port: number, monitorPort: number): Promise<void> {
  const deadline = Date.now() + readyTimeoutMs;
  const healthUrl = `http://127.0.0.1:${monitorPort}/healthz?js-enabled-only=true`;

  while (Date.now() < deadline) {
    if (server.hasExited) {
      throw new Error(`nats-server failed to start on port ${port}: ${server.describeFailure()}`);
    }
    // A healthy JetStream does not prove that the client port is open, so both are checked.
    if ((await isHealthy(healthUrl)) && (await acceptsConnections(port))) {
      return;
    }
    await sleep(50);
  }
  throw new Error(
    `nats-server on port ${port} was not ready within ${readyTimeoutMs} ms: ${server.describeFailure()}`,
  );
}

async function isHealthy(url: string): Promise<boolean> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(1_000) });
    await response.body?.cancel();
    return response.ok;
  } catch {
    return false;
  }
}

function acceptsConnections(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    socket.setTimeout(1_000);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('timeout', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(false));
  });
}
