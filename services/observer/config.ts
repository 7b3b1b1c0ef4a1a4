import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readAddress, readBool, readDurationMs, readInt, readString, ConfigError } from '../../common/config.js';
import { natsPrefixPattern } from '../../common/nats-names.js';
import { checkPlaintext, readMeshTls, type MeshTlsConfig } from '../../common/tls.js';

export interface ObserverConfig {
  /** OBSERVER_ADDRESS: where the Scale RPC listens. Default 127.0.0.1:50053. */
  listenAddress: string;
  /** NATS_URL: the NATS server the scheduler uses. Default nats://127.0.0.1:4222. */
  natsUrl: string;
  /** FAAS_NATS_PREFIX: prefix of the scheduler's stream and consumer names. Default FAAS. */
  natsPrefix: string;
  /** FAAS_SCHEDULER: scheduler whose worker pool is reported. Default 127.0.0.1:50052. */
  schedulerAddress: string;
  /** FAAS_OTHER_SCHEDULERS: comma-separated addresses of further scheduler replicas, whose pools are added. Default none. */
  otherSchedulerAddresses: string[];
  /** OBSERVER_INTERVAL: how often the queue is read. Default 5s. */
  intervalMs: number;
  /** OBSERVER_SLOTS_PER_WORKER: jobs one worker runs at once. Default 2. */
  slotsPerWorker: number;
  /** OBSERVER_MIN_WORKERS: fewest workers to ask for. Default 1. */
  minWorkers: number;
  /** OBSERVER_MAX_WORKERS: most workers to ask for. Default 8. */
  maxWorkers: number;
  /** OBSERVER_SCALE_UP_DELAY: how long a higher need must last before scaling up, unless demand is twice the capacity. Default 10s. */
  scaleUpDelayMs: number;
  /** OBSERVER_STABLE_WINDOW: how long the need must stay lower before scaling down. Default 60s. */
  stableWindowMs: number;
  /** OBSERVER_ACTUATOR: "local" starts and stops worker processes on this machine to follow the decision; "none" only reports it (for KEDA). Default none. */
  actuator: 'local' | 'none';
  /** OBSERVER_STATE_DIR: where the local actuator records the workers it started, and their logs. Default <tmp>/faas-observer. */
  stateDir: string;
  /** OBSERVER_STOP_WORKERS_ON_EXIT: drain the workers the local actuator started when the observer stops. Default false, so a restart keeps them. */
  stopWorkersOnExit: boolean;
  /** Environment of started workers: every WORKER_ENV_<NAME> variable, passed as <NAME>. */
  workerEnv: Record<string, string>;
  /** FAAS_TLS_CA, FAAS_TLS_CERT, FAAS_TLS_KEY: mutual TLS for the Scale RPC and towards the scheduler. */
  tls?: MeshTlsConfig;
}

export function readObserverConfig(env: Record<string, string | undefined> = process.env): ObserverConfig {
  const natsPrefix = readString(env, 'FAAS_NATS_PREFIX', 'FAAS');
  if (!natsPrefixPattern.test(natsPrefix)) {
    throw new ConfigError(`FAAS_NATS_PREFIX=${natsPrefix} is invalid: use 1 to 32 letters, digits or _, starting with a letter`);
  }
  const minWorkers = readInt(env, 'OBSERVER_MIN_WORKERS', 1, 0, 1000);
  const maxWorkers = readInt(env, 'OBSERVER_MAX_WORKERS', 8, 1, 1000);
  if (maxWorkers < minWorkers) {
    throw new ConfigError(`OBSERVER_MAX_WORKERS=${maxWorkers} is below OBSERVER_MIN_WORKERS=${minWorkers}; raise the maximum`);
  }
  const listenAddress = readAddress(env, 'OBSERVER_ADDRESS', '127.0.0.1:50053');
  const tls = readMeshTls(env);
  const schedulerAddress = readAddress(env, 'FAAS_SCHEDULER', '127.0.0.1:50052');
  const otherSchedulerAddresses = readString(env, 'FAAS_OTHER_SCHEDULERS', '')
    .split(',')
    .map((address) => address.trim())
    .filter(Boolean)
    .map((address) => readAddress({ FAAS_OTHER_SCHEDULERS: address }, 'FAAS_OTHER_SCHEDULERS', address));
  if (!tls) {
    checkPlaintext(env, 'OBSERVER_ADDRESS', listenAddress);
    checkPlaintext(env, 'FAAS_SCHEDULER', schedulerAddress);
    for (const address of otherSchedulerAddresses) checkPlaintext(env, 'FAAS_OTHER_SCHEDULERS', address);
  }
  return {
    listenAddress,
    tls,
    natsUrl: readString(env, 'NATS_URL', 'nats://127.0.0.1:4222'),
    natsPrefix,
    schedulerAddress,
    otherSchedulerAddresses,
    intervalMs: readDurationMs(env, 'OBSERVER_INTERVAL', 5_000, 100, 600_000),
    slotsPerWorker: readInt(env, 'OBSERVER_SLOTS_PER_WORKER', 2, 1, 64),
    minWorkers,
    maxWorkers,
    actuator: readActuator(env),
    stateDir: readString(env, 'OBSERVER_STATE_DIR', join(tmpdir(), 'faas-observer')),
    stopWorkersOnExit: readBool(env, 'OBSERVER_STOP_WORKERS_ON_EXIT', false),
    workerEnv: Object.fromEntries(
      Object.entries(env)
        .filter((entry): entry is [string, string] => entry[0].startsWith('WORKER_ENV_') && entry[1] !== undefined)
        .map(([name, value]) => [name.slice('WORKER_ENV_'.length), value]),
    ),
    scaleUpDelayMs: readDurationMs(env, 'OBSERVER_SCALE_UP_DELAY', 10_000, 0, 3_600_000),
    stableWindowMs: readDurationMs(env, 'OBSERVER_STABLE_WINDOW', 60_000, 0, 86_400_000),
  };
}

function readActuator(env: Record<string, string | undefined>): 'local' | 'none' {
  const value = readString(env, 'OBSERVER_ACTUATOR', 'none');
  if (value !== 'local' && value !== 'none') {
    throw new ConfigError(`OBSERVER_ACTUATOR=${value} is invalid: use local (start workers here) or none (report only)`);
  }
  return value;
}
