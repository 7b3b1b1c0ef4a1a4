import { Metadata } from '@grpc/grpc-js';
import { metrics } from '@opentelemetry/api';
import { jetstreamManager } from '@nats-io/jetstream';
import { NoRespondersError } from '@nats-io/transport-node';
import {
  ObserverServiceService,
  type ListScaleEventsRequest,
  type ScaleResponse,
} from '../../gen/faas/observer/v1/observer_service.js';
import { GetPoolResponse, PoolServiceClient } from '../../gen/faas/scheduler/v1/pool_service.js';
import { ErrorCode, FaasError } from '../../common/errors.js';
import { addHealth, createServer, listen, shutdown, unary, tolerantService } from '../../common/grpc-server.js';
import type { Logger } from '../../common/logger.js';
import { Readiness } from '../../common/readiness.js';
import { meshChannelCredentials, meshChannelOptions, meshServerCredentials } from '../../common/tls.js';
import { connectNats } from '../../common/nats-connect.js';
import { natsNames } from '../../common/nats-names.js';
import type { ObserverConfig } from './config.js';
import { addExternalScaler } from './keda.js';
import { Autoscaler } from './autoscaler.js';
import { LocalActuator } from './actuator.js';
import { ScaleEvents } from './scale-events.js';

export interface RunningObserver {
  address: string;
  /** Reads the queue and decides now, instead of waiting for the next interval. */
  refresh(): Promise<ScaleResponse>;
  /** Workers the local actuator runs and is not stopping; 0 without an actuator. */
  managedWorkers(): number;
  /** SERVING while the queue's consumer can be read. */
  readiness: Readiness;
  stop(): Promise<void>;
}

/**
 * Starts the observer: every interval it reads the dispatch consumer's info
 * from JetStream and the scheduler's worker pool, and decides how many
 * workers the queue needs. The Scale RPC returns the latest decision.
 */
export async function startObserver(config: ObserverConfig, log: Logger): Promise<RunningObserver> {
  const nc = await connectNats({ servers: config.natsUrl, name: 'faas-observer', maxReconnectAttempts: -1 });
  const jsm = await jetstreamManager(nc);
  const names = natsNames(config.natsPrefix);
  // Each scheduler replica tracks only its own workers, so the pool is their sum.
  const pools = [config.schedulerAddress, ...config.otherSchedulerAddresses].map(
    (address) => new PoolServiceClient(address, meshChannelCredentials(config.tls), meshChannelOptions(config.tls, address)),
  );
  let latest: ScaleResponse | undefined;
  let lastError: FaasError | undefined;
  const autoscaler = new Autoscaler(config);
  const actuator =
    config.actuator === 'local'
      ? await LocalActuator.open({ stateDir: config.stateDir, workerEnv: config.workerEnv, log: log.child({ component: 'actuator' }) })
      : undefined;
  const events = new ScaleEvents();

  const readOne = (pool: PoolServiceClient) =>
    new Promise<GetPoolResponse | undefined>((resolve) => {
      pool.getPool({}, new Metadata(), { deadline: new Date(Date.now() + 2_000) }, (error, response) => {
        if (error) log.warn({ code: error.code, details: error.details }, 'cannot read the worker pool of a scheduler');
        resolve(error ? undefined : response);
      });
    });
  /** Requests the pool of every scheduler replica over NATS; replicas of older versions do not reply. */
  const readPoolsOverNats = async (): Promise<GetPoolResponse[]> => {
    const found: GetPoolResponse[] = [];
    try {
      // The first reply may take up to 2 s. The gathering ends 300 ms after the latest, so that a busy replica still counts.
      const replies = await nc.requestMany(names.poolSubject, undefined, { strategy: 'stall', stall: 300, maxWait: 2_000 });
      for await (const reply of replies) found.push(GetPoolResponse.decode(reply.data));
    } catch (error) {
      // "No responders" means that no replica of this version runs; a closing connection means that the observer stops.
      if (!isNoResponders(error) && !nc.isDraining() && !nc.isClosed()) log.warn({ err: error, replies: found.length }, 'failed to request the schedulers\' pools over NATS');
    }
    return found;
  };
  const readPool = async (): Promise<GetPoolResponse | undefined> => {
    const [overNats, overGrpc] = await Promise.all([readPoolsOverNats(), Promise.all(pools.map(readOne))]);
    // A replica can reply both ways; its pool counts once.
    const bySchedulerId = new Map<string, GetPoolResponse>();
    for (const pool of [...overNats, ...overGrpc]) if (pool) bySchedulerId.set(pool.schedulerId, pool);
    const answers = [...bySchedulerId.values()];
    if (answers.length === 0) return undefined;
    return {
      schedulerId: answers.map((answer) => answer.schedulerId).join(','),
      workers: answers.reduce((sum, answer) => sum + answer.workers, 0),
      slots: answers.reduce((sum, answer) => sum + answer.slots, 0),
      busySlots: answers.reduce((sum, answer) => sum + answer.busySlots, 0),
      workerStatuses: answers.flatMap((answer) => answer.workerStatuses),
    };
  };

  // Ready while the queue's consumer can be read: without it there is no decision.
  const readiness = new Readiness();
  const refresh = async (): Promise<ScaleResponse> => {
    let info;
    try {
      info = await jsm.consumers.info(names.jobStream, names.dispatchConsumer);
    } catch (error) {
      // Hold the previous decision rather than guess from a missing consumer.
      lastError = new FaasError(
        ErrorCode.Unavailable,
        `cannot read consumer ${names.dispatchConsumer} of stream ${names.jobStream}; keeping the previous decision`,
        { cause: error },
      );
      log.warn({ err: error }, lastError.message);
      readiness.set('queue', false, lastError.message);
      throw lastError;
    }
    readiness.set('queue', true);
    const metrics = {
      pending: info.num_pending,
      ackPending: info.num_ack_pending,
      redelivered: info.num_redelivered,
      waiting: info.num_waiting,
    };
    const current = await readPool();
    const decidedAt = new Date();
    const decision = autoscaler.decide({
      metrics,
      connectedWorkers: current?.workers ?? 0,
      startingWorkers: actuator?.startingCount(current?.workerStatuses ?? []) ?? 0,
      nowMs: decidedAt.getTime(),
    });
    // Without the pool the actuator cannot tell idle workers, so it waits.
    if (actuator && current) await actuator.reconcile(decision.desiredWorkers, current.workerStatuses);
    lastError = undefined;
    const previous = latest?.desiredWorkers;
    latest = {
      desiredWorkers: decision.desiredWorkers,
      currentWorkers: current?.workers ?? 0,
      metrics,
      reason: decision.reason,
      decidedAt,
      slotsPerWorker: config.slotsPerWorker,
      neededWorkers: decision.neededWorkers,
      panic: decision.panic,
    };
    if (previous !== undefined && previous !== decision.desiredWorkers) {
      events.add({ decidedAt, fromWorkers: previous, toWorkers: decision.desiredWorkers, reason: decision.reason, metrics });
      log.info({ from: previous, to: decision.desiredWorkers, reason: decision.reason }, 'desired workers changed');
    }
    return latest;
  };

  // The latest decision, for alerts such as one on the desired count staying at the maximum.
  const meter = metrics.getMeter('faas');
  meter
    .createObservableGauge('faas.workers.desired', { unit: '{worker}', description: 'Workers the autoscaler wants, as of its latest decision' })
    .addCallback((result) => {
      if (latest) result.observe(latest.desiredWorkers);
    });
  meter
    .createObservableGauge('faas.workers.current', { unit: '{worker}', description: 'Workers connected to the schedulers, as of the latest decision' })
    .addCallback((result) => {
      if (latest) result.observe(latest.currentWorkers);
    });

  const timer = setInterval(() => refresh().catch(() => undefined), config.intervalMs);
  await refresh().catch(() => undefined);

  const server = createServer();
  server.addService(tolerantService(ObserverServiceService), {
    scale: unary(log, 'Scale', async () => {
      if (latest) return latest;
      throw lastError ?? new FaasError(ErrorCode.Unavailable, 'no scaling decision has been made yet; retry shortly');
    }),
    listScaleEvents: unary(log, 'ListScaleEvents', async (request: ListScaleEventsRequest) => ({
      events: events.list(request.limit),
    })),
  });
  addExternalScaler(server, refresh, config, log);
  addHealth(server, ['faas.observer.v1.ObserverService', 'externalscaler.ExternalScaler'], readiness);
  const port = await listen(server, config.listenAddress, meshServerCredentials(config.tls), 'OBSERVER_ADDRESS');
  const host = config.listenAddress.slice(0, config.listenAddress.lastIndexOf(':'));
  log.info({ address: `${host}:${port}`, minWorkers: config.minWorkers, maxWorkers: config.maxWorkers }, 'observer started');

  return {
    address: `${host}:${port}`,
    refresh,
    readiness,
    managedWorkers: () => actuator?.activeCount ?? 0,
    async stop() {
      clearInterval(timer);
      if (actuator && config.stopWorkersOnExit) await actuator.stopAll();
      await shutdown(server, 2_000);
      for (const pool of pools) pool.close();
      await nc.drain().catch(() => nc.close());
      log.info('observer stopped');
    },
  };
}

/** Tells whether a NATS request failed because nothing subscribes to its subject. */
function isNoResponders(error: unknown): boolean {
  return error instanceof NoRespondersError || (error instanceof Error && error.cause instanceof NoRespondersError);
}
