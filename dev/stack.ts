import { createHash } from 'node:crypto';
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { chmod, mkdir, rm } from 'node:fs/promises';
import { connect as connectTcp } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect as connectNats } from '@nats-io/transport-node';
import { ensureDevCertificates } from './certificates.js';
import { startDevIdentityProvider, type DevIdentityProvider } from './identity-provider.js';
import { findFreePort, startNatsServer, type NatsServerHandle } from './nats-server.js';
import { workerNodeFlags } from '../common/node-flags.js';

const root = resolve(fileURLToPath(new URL('..', import.meta.url)));

export interface StackOptions {
  /** Folder for the NATS store (when the stack starts its own server) and the service logs. */
  dataDir: string;
  /** A NATS server to use when it responds; otherwise the stack starts its own. */
  natsUrl?: string;
  /** Always start a private nats-server, even when `natsUrl` responds. */
  privateNats?: boolean;
  /** Fixed ports; 0 or unset picks free ones. */
  gatewayPort?: number;
  schedulerPort?: number;
  observerPort?: number;
  /** Port of the edge, which serves the web page and grpc-web; 0 or unset picks a free one. */
  edgePort?: number;
  /** Port of the development OpenID Provider; 0 or unset picks a free one. */
  identityPort?: number;
  /** Approve every device login of the CLI as this user, with no browser step. */
  autoApproveDeviceAs?: string;
  /** Worker processes to start. Default 2; ignored with `autoscale`. */
  workers?: number;
  /** Let the observer start and stop workers, between these counts, instead of starting a fixed number. */
  autoscale?: { minWorkers: number; maxWorkers: number };
  /** Job slots per worker. Default 2. */
  slotsPerWorker?: number;
  /** Prefix of the JetStream names. Default FAAS. */
  natsPrefix?: string;
  /** Extra environment for every service. */
  env?: Record<string, string>;
  /**
   * Run the services compiled to JavaScript in `dist/` (`npm run build`)
   * with plain node, as a deployment does, instead of from TypeScript with tsx.
   */
  compiled?: boolean;
}

export interface Stack {
  gatewayAddress: string;
  schedulerAddress: string;
  observerAddress: string;
  /** host:port of the edge; the web page is at `http://<edgeAddress>/`. */
  edgeAddress: string;
  natsUrl: string;
  /** The development OpenID Provider that issues the tokens the gateway accepts. */
  identity: DevIdentityProvider;
  /** True when the stack started its own nats-server. */
  ownsNats: boolean;
  logDir: string;
  stop(): Promise<void>;
  /** The nats-server this stack started, or undefined when it uses one that was already running. */
  natsServer: NatsServerHandle | undefined;
  /** Name, pid and liveness of each service process, in start order. */
  services(): ServiceInfo[];
  /** Sends `signal` (default SIGTERM) to the named service and waits until it exits. */
  killService(name: string, signal?: NodeJS.Signals): Promise<void>;
  /**
   * Starts the named service again with the environment of its first start,
   * after it exited. A scheduler or gateway must listen on its port within 30 s.
   */
  restartService(name: string): Promise<void>;
  /**
   * Starts one more worker process, with `env` on top of the stack's worker
   * environment, and returns its service name (`worker-N`).
   */
  addWorker(env?: Record<string, string>): Promise<string>;
}

/** A service process as `Stack.services()` lists it. */
export interface ServiceInfo {
  name: string;
  pid: number | undefined;
  running: boolean;
  /** host:port of the service's `/metrics` and `/healthz` endpoints. */
  metricsAddress: string;
}

interface ServiceProcess {
  name: string;
  child: ChildProcess;
  exited: Promise<void>;
  /** Source file and environment of the launch, kept for restartService. */
  entry: string;
  env: Record<string, string>;
  /** Address the service listens on, for the services that serve gRPC. */
  address?: string;
  /** Node flags before the entry file. */
  nodeFlags: string[];
}

/** Gives each service its own `/metrics` port, picked when it first starts. */
async function withMetricsAddress(env: Record<string, string>): Promise<Record<string, string>> {
  if (env.FAAS_METRICS_ADDRESS) return env;
  return { ...env, FAAS_METRICS_ADDRESS: `127.0.0.1:${await findFreePort()}` };
}

/**
 * Starts the whole mesh as separate processes on loopback: NATS (unless one
 * responds at `natsUrl`), the scheduler, the workers, the observer, the
 * gateway and the edge (web page and grpc-web). Each service logs to
 * `<dataDir>/logs/<name>.log`.
 */
export async function startStack(options: StackOptions): Promise<Stack> {
  const logDir = join(options.dataDir, 'logs');
  await mkdir(logDir, { recursive: true });
  // Sandboxed jobs run as unprivileged users, who must be able to reach the
  // workers' folders, so those live under the system temporary folder rather
  // than next to the data folder, whose parents may be private.
  const workerRoot = join(tmpdir(), `faas-stack-${createHash('sha256').update(resolve(options.dataDir)).digest('hex').slice(0, 12)}`);
  await mkdir(workerRoot, { recursive: true, mode: 0o711 });
  await chmod(workerRoot, 0o711);
  const services: ServiceProcess[] = [];
  let nats: NatsServerHandle | undefined;
  let identity: DevIdentityProvider | undefined;

  const stop = async () => {
    for (const service of services) stoppingChildren.add(service.child);
    for (const service of [...services].reverse()) await stopProcess(service);
    await identity?.stop();
    await nats?.stop({ keepStoreDir: true });
    // Job folders, repository caches and the observer's records end with the stack.
    await rm(workerRoot, { recursive: true, force: true }).catch(() => undefined);
  };

  try {
    let natsUrl = options.natsUrl ?? 'nats://127.0.0.1:4222';
    if (options.privateNats || !(await natsAnswers(natsUrl))) {
      nats = await startNatsServer({ storeDir: join(options.dataDir, 'nats'), logFile: join(logDir, 'nats-server.log') });
      natsUrl = nats.url;
    }
    /** Returns `fixed`, or a free port when it is unset; `setting` names the variable of npm start that sets it. */
    const port = async (fixed: number | undefined, setting: string) => {
      if (!fixed) return await findFreePort();
      if (await portAnswers('127.0.0.1', fixed)) {
        throw new Error(`port ${fixed} (${setting}) is already in use; is another stack running? Stop it, or set ${setting} to another port`);
      }
      return fixed;
    };
    const schedulerAddress = `127.0.0.1:${await port(options.schedulerPort, 'SCHEDULER_PORT')}`;
    const gatewayAddress = `127.0.0.1:${await port(options.gatewayPort, 'GATEWAY_PORT')}`;
    const observerAddress = `127.0.0.1:${await port(options.observerPort, 'OBSERVER_PORT')}`;
    const edgeAddress = `127.0.0.1:${await port(options.edgePort, 'EDGE_PORT')}`;
    const slots = options.slotsPerWorker ?? 2;
    identity = await startDevIdentityProvider({
      port: await port(options.identityPort, 'IDENTITY_PORT'),
      autoApproveDeviceAs: options.autoApproveDeviceAs,
      // The page signs in with the authorization code flow and returns to /callback on its own
      // origin, which is localhost for a user who types that name in place of 127.0.0.1.
      webRedirectUris: [`http://${edgeAddress}/callback`, `http://${edgeAddress.replace('127.0.0.1', 'localhost')}/callback`],
    });
    const env: Record<string, string> = {
      NATS_URL: natsUrl,
      FAAS_NATS_PREFIX: options.natsPrefix ?? 'FAAS',
      FAAS_SCHEDULER: schedulerAddress,
      // The local stack clones from git servers on this machine over plain http.
      FAAS_ALLOW_HTTP: 'true',
      FAAS_ALLOWED_ADDRESSES: '127.0.0.0/8,::1/128',
      ...options.env,
    };

    // Services talk mutual TLS with certificates of a development CA, made on first start.
    const certificates = await ensureDevCertificates(join(options.dataDir, 'certs'));
    const schedulerEnv = { ...env, ...certificates.env('scheduler'), SCHEDULER_ADDRESS: schedulerAddress };
    services.push(launch('scheduler', entryFile(options, 'services/scheduler/main'), await withMetricsAddress(schedulerEnv), logDir, schedulerAddress));
    await waitForPort(schedulerAddress, services.at(-1)!);
    let workerCount = 0;
    const launchWorker = async (extraEnv: Record<string, string> = {}): Promise<ServiceProcess> => {
      const index = workerCount++;
      const workerEnv = {
        ...env,
        ...certificates.env('worker'),
        WORKER_SLOTS: String(slots),
        WORKER_WORK_DIR: join(workerRoot, `worker-${index}`),
        ...extraEnv,
      };
      return launch(`worker-${index}`, entryFile(options, 'services/worker/main'), await withMetricsAddress(workerEnv), logDir, undefined, workerNodeFlags);
    };
    if (!options.autoscale) for (let i = 0; i < (options.workers ?? 2); i++) services.push(await launchWorker());
    const observerEnv: Record<string, string> = {
      ...env,
      ...certificates.env('observer'),
      OBSERVER_ADDRESS: observerAddress,
      OBSERVER_SLOTS_PER_WORKER: String(slots),
    };
    if (options.autoscale) {
      // Every WORKER_ENV_ variable reaches the workers the observer starts.
      const workerEnv: Record<string, string> = {
        ...env,
        ...certificates.env('worker'),
        WORKER_SLOTS: String(slots),
        WORKER_WORK_DIR: join(workerRoot, 'autoscaled'),
        // Defaults of the stack's own, which a variable of the same name replaces.
        WORKER_SHUTDOWN_GRACE: process.env.WORKER_SHUTDOWN_GRACE ?? '3600s',
        // Several workers share this host, so each takes a free port and logs it.
        FAAS_METRICS_ADDRESS: '127.0.0.1:0',
      };
      Object.assign(observerEnv, {
        OBSERVER_ACTUATOR: 'local',
        // The observer's records and the logs of the workers it starts.
        OBSERVER_STATE_DIR: join(options.dataDir, 'observer'),
        OBSERVER_STOP_WORKERS_ON_EXIT: 'true',
        OBSERVER_INTERVAL: process.env.OBSERVER_INTERVAL ?? '2s',
        OBSERVER_MIN_WORKERS: String(options.autoscale.minWorkers),
        OBSERVER_MAX_WORKERS: String(options.autoscale.maxWorkers),
        ...Object.fromEntries(Object.entries(workerEnv).map(([name, value]) => [`WORKER_ENV_${name}`, value])),
      });
    }
    services.push(launch('observer', entryFile(options, 'services/observer/main'), await withMetricsAddress(observerEnv), logDir));
    const gatewayEnv = {
      ...env,
      ...certificates.env('gateway'),
      GATEWAY_ADDRESS: gatewayAddress,
      FAAS_OBSERVER: observerAddress,
      FAAS_OIDC_ISSUER: identity.issuer,
    };
    services.push(launch('gateway', entryFile(options, 'services/gateway/main'), await withMetricsAddress(gatewayEnv), logDir, gatewayAddress));
    await waitForPort(observerAddress, services.at(-2)!);
    await waitForPort(gatewayAddress, services.at(-1)!);
    const edgeEnv = {
      ...env,
      FAAS_EDGE_ADDRESS: edgeAddress,
      FAAS_GATEWAY: gatewayAddress,
      FAAS_OIDC_ISSUER: identity.issuer,
      FAAS_WEB_ROOT: join(root, 'web', 'dist'),
    };
    services.push(launch('edge', entryFile(options, 'services/edge/main'), await withMetricsAddress(edgeEnv), logDir, edgeAddress));
    await waitForPort(edgeAddress, services.at(-1)!);

    const find = (name: string): ServiceProcess => {
      const service = services.find((candidate) => candidate.name === name);
      if (!service) throw new Error(`no service named ${name}; the stack runs ${services.map((s) => s.name).join(', ')}`);
      return service;
    };
    return {
      gatewayAddress,
      schedulerAddress,
      observerAddress,
      edgeAddress,
      natsUrl,
      identity,
      ownsNats: nats !== undefined,
      logDir,
      stop,
      natsServer: nats,
      services: () =>
        services.map((service) => ({
          name: service.name,
          pid: service.child.pid,
          running: isRunning(service),
          metricsAddress: service.env.FAAS_METRICS_ADDRESS,
        })),
      async killService(name, signal = 'SIGTERM') {
        const service = find(name);
        if (!isRunning(service)) return;
        stoppingChildren.add(service.child);
        service.child.kill(signal);
        await service.exited;
      },
      async restartService(name) {
        const previous = find(name);
        if (isRunning(previous)) throw new Error(`${name} (pid ${previous.child.pid}) is still running; call killService first`);
        const restarted = launch(previous.name, previous.entry, previous.env, logDir, previous.address, previous.nodeFlags);
        // The same position keeps the stop order: gateway first, scheduler last.
        services[services.indexOf(previous)] = restarted;
        if (restarted.address) await waitForPort(restarted.address, restarted);
      },
      async addWorker(extraEnv = {}) {
        const worker = await launchWorker(extraEnv);
        services.push(worker);
        return worker.name;
      },
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** Returns the entry file of a service: its TypeScript source, or its compiled module under dist/. */
function entryFile(options: StackOptions, source: string): string {
  return options.compiled ? `dist/${source}.js` : `${source}.ts`;
}

function launch(
  name: string,
  entry: string,
  env: Record<string, string>,
  logDir: string,
  address?: string,
  nodeFlags: string[] = [],
): ServiceProcess {
  const log = createWriteStream(join(logDir, `${name}.log`), { flags: 'a' });
  const args = [...nodeFlags, ...(entry.endsWith('.js') ? [join(root, entry)] : ['--import', 'tsx', join(root, entry)])];
  const child = spawn(process.execPath, args, {
    cwd: root,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout!.pipe(log, { end: false });
  child.stderr!.pipe(log, { end: false });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.once('exit', (code, signal) => {
    // A signal sent to the whole process group, as Ctrl-C sends it, reaches the services a moment
    // before the stack starts to stop them, so an exit is reported only if no stop follows.
    setTimeout(() => {
      if (stoppingChildren.has(child)) return;
      process.stderr.write(`faas stack: ${name} exited (${signal ?? `code ${code}`}); see ${join(logDir, `${name}.log`)}\n`);
    }, exitReportDelayMs).unref();
  });
  killOnExit(child);
  return { name, child, exited, entry, env, address, nodeFlags };
}

// One 'exit' listener kills every child still running when this process
// exits, however many services are started and restarted.
const runningChildren = new Set<ChildProcess>();

function killOnExit(child: ChildProcess): void {
  if (runningChildren.size === 0 && process.listeners('exit').every((listener) => listener !== killRunningChildren)) {
    process.on('exit', killRunningChildren);
  }
  runningChildren.add(child);
  child.once('exit', () => runningChildren.delete(child));
}

function killRunningChildren(): void {
  for (const child of runningChildren) child.kill('SIGKILL');
}

function isRunning(service: ServiceProcess): boolean {
  return service.child.exitCode === null && service.child.signalCode === null;
}

/** Children this process is stopping on purpose, whose exit is not reported. */
const stoppingChildren = new WeakSet<ChildProcess>();
/** Time between a child's exit and its report, in which a stop of the stack may still begin. */
const exitReportDelayMs = 500;

async function stopProcess(service: ServiceProcess): Promise<void> {
  if (!isRunning(service)) return;
  stoppingChildren.add(service.child);
  service.child.kill('SIGTERM');
  const killTimer = setTimeout(() => service.child.kill('SIGKILL'), 15_000);
  await service.exited;
  clearTimeout(killTimer);
}

function portAnswers(host: string, port: number): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    const socket = connectTcp({ host, port }, () => {
      socket.destroy();
      resolve(true);
    });
    socket.on('error', () => resolve(false));
  });
}

async function natsAnswers(url: string): Promise<boolean> {
  try {
    const nc = await connectNats({ servers: url, timeout: 1_000, reconnect: false });
    await nc.close();
    return true;
  } catch {
    return false;
  }
}

/** Waits until `address` accepts TCP connections, failing early if the service exits. */
async function waitForPort(address: string, service: ServiceProcess, timeoutMs = 30_000): Promise<void> {
  const [host, port] = [address.slice(0, address.lastIndexOf(':')), Number(address.slice(address.lastIndexOf(':') + 1))];
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    // A process that a signal ended has no exit code, only a signal.
    if (service.child.exitCode !== null || service.child.signalCode !== null) {
      const ending = service.child.signalCode ?? `code ${service.child.exitCode}`;
      throw new Error(`${service.name} exited with ${ending} during start-up; see its log`);
    }
    if (await portAnswers(host, port)) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`${service.name} did not listen on ${address} within ${timeoutMs} ms; see its log`);
}
