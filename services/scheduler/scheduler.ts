import { setMaxListeners } from 'node:events';
import type { Server } from '@grpc/grpc-js';
import { JobServiceService } from '../../gen/faas/v1/job_service.js';
import { WorkerServiceService } from '../../gen/faas/worker/v1/worker_service.js';
import { GetPoolResponse, PoolServiceService } from '../../gen/faas/scheduler/v1/pool_service.js';
import { addHealth, createServer, listen, serverStream, shutdown, unary, tolerantService } from '../../common/grpc-server.js';
import type { Logger } from '../../common/logger.js';
import { ErrorCode, FaasError } from '../../common/errors.js';
import { Readiness } from '../../common/readiness.js';
import { meshServerCredentials } from '../../common/tls.js';
import type { SchedulerConfig } from './config.js';
import type { SchedulerContext } from './context.js';
import { Dispatcher } from './dispatcher.js';
import { NatsLink } from './nats-link.js';
import { followNatsStatus, openJetStream } from './jetstream.js';
import { RecordFeed } from './record-feed.js';
import { RecentRecords } from './recent-records.js';
import { JobStore } from './job-store.js';
import { JobBlobs } from './blobs.js';
import { SchedulerMetrics } from './metrics.js';
import { SchedulerJobService } from './job-service.js';
import { WorkerPool } from './pool.js';
import { WorkerLinks } from './worker-link.js';
import { sweepFinishedJobs } from './retention.js';
import { FinishedIndex } from './finished-index.js';
import { kvEraser, kvKeyLister } from './kv-keys.js';
import { requeueOrphans, type OrphanSweepMemo } from './orphans.js';

/** How often a replica looks for queued jobs whose queue message is missing. */
const orphanSweepIntervalMs = 15_000;

/** Jobs whose latest written versions a replica keeps for Watch: a few hundred bytes a version, about 5 MB at most. */
const recentJobsKept = 1_000;

export interface RunningScheduler {
  /** host:port the scheduler listens on. */
  address: string;
  context: SchedulerContext;
  /** SERVING while the replica is connected to NATS. */
  readiness: Readiness;
  /** Publishes the queue message again for queued jobs that lost theirs (see `requeueOrphans`); it also runs every 15 s. */
  requeueOrphans(nowMs?: number): Promise<number>;
  stop(): Promise<void>;
}

/** Starts one scheduler replica: JetStream set-up, the gRPC server and dispatch. */
export async function startScheduler(config: SchedulerConfig, log: Logger): Promise<RunningScheduler> {
  const nats = await openJetStream(config, log);
  const pool = new WorkerPool();
  const metrics = new SchedulerMetrics();
  metrics.observe(nats, pool);
  // Watch streams take the versions this replica wrote from memory. They work so only with the republished records.
  const recent = nats.republishesRecords ? new RecentRecords(recentJobsKept) : undefined;
  const natsLink = new NatsLink();
  const shuttingDown = new AbortController();
  // Every open Watch or Logs stream, and every outcome waiting for NATS, listens for the shutdown; Node would warn past 10.
  setMaxListeners(0, shuttingDown.signal);
  const context: SchedulerContext = {
    config,
    log,
    nats,
    natsLink,
    stopping: shuttingDown.signal,
    pool,
    metrics,
    store: new JobStore(nats.jobs, nats.index, log, {
      finished: new FinishedIndex(nats.index, nats.jsm, nats.names.indexBucket, config.retentionMs),
      onChange: (before, after) => metrics.jobChanged(before, after),
      recent,
      eraseRecord: kvEraser(nats.jsm, nats.names.jobsBucket),
      listIndexKeys: kvKeyLister(nats.jsm, nats.names.indexBucket),
    }),
    blobs: new JobBlobs(nats.blobs, nats.results, nats.nc.info?.max_payload, kvEraser(nats.jsm, nats.names.resultsBucket)),
    records: nats.republishesRecords ? new RecordFeed(nats.nc, nats.jsm, nats.names, log, recent) : undefined,
  };
  context.records?.start();

  const links = new WorkerLinks(context);
  // A cancel reaches every replica; the one holding the job's worker acts on it.
  const cancelSubscription = nats.nc.subscribe(`${nats.names.cancelSubjectPrefix}.*`, {
    callback: (error, message) => {
      if (error) return;
      links.cancel(message.subject.slice(nats.names.cancelSubjectPrefix.length + 1), message.string());
    },
  });
  const jobs = new SchedulerJobService(context, (jobId, reason) => {
    nats.nc.publish(nats.names.cancelSubject(jobId), reason);
  });

  const server: Server = createServer();
  // Every job call needs NATS; while it is down they fail at once, and the client retries.
  const connected = <Args extends unknown[], Result>(handler: (...args: Args) => Promise<Result>) =>
    async (...args: Args): Promise<Result> => {
      if (!natsLink.connected) throw new FaasError(ErrorCode.Unavailable, 'the scheduler has lost its connection to NATS and is reconnecting; retry shortly');
      return handler(...args);
    };
  server.addService(tolerantService(JobServiceService), {
    submit: unary(log, 'Submit', connected((request, metadata) => jobs.submit(request, metadata))),
    submitBatch: unary(log, 'SubmitBatch', connected((request, metadata) => jobs.submitBatch(request, metadata))),
    status: unary(log, 'Status', connected((request, metadata) => jobs.status(request, metadata))),
    result: unary(log, 'Result', connected((request, metadata) => jobs.result(request, metadata))),
    list: unary(log, 'List', connected((request, metadata) => jobs.list(request, metadata))),
    watch: serverStream(log, 'Watch', connected((request, metadata, send, signal) => jobs.watch(request, metadata, send, signal)), shuttingDown.signal),
    logs: serverStream(log, 'Logs', connected((request, metadata, send, signal) => jobs.logs(request, metadata, send, signal)), shuttingDown.signal),
    cancel: unary(log, 'Cancel', connected((request, metadata) => jobs.cancel(request, metadata))),
  });
  server.addService(tolerantService(WorkerServiceService), { connect: links.connect });
  const poolSnapshot = (): GetPoolResponse => {
    const sessions = pool.all();
    const { slots, busySlots } = pool.slotTotals();
    const workerStatuses = sessions.map((session) => ({
      workerId: session.workerId,
      slots: session.slots,
      busySlots: session.jobs.size,
      draining: session.draining,
    }));
    return { schedulerId: config.schedulerId, workers: sessions.length, slots, busySlots, workerStatuses };
  };
  server.addService(tolerantService(PoolServiceService), {
    getPool: unary(log, 'GetPool', async () => poolSnapshot()),
  });
  // Every replica replies, so an observer that reaches one replica over gRPC, as through a
  // Kubernetes Service, still learns the pools of all of them.
  const poolSubscription = nats.nc.subscribe(nats.names.poolSubject, {
    callback: (error, message) => {
      if (!error) message.respond(GetPoolResponse.encode(poolSnapshot()).finish());
    },
  });
  const readiness = new Readiness();
  addHealth(server, ['faas.v1.JobService', 'faas.worker.v1.WorkerService', 'faas.scheduler.v1.PoolService'], readiness);
  void followNatsStatus(nats.nc, readiness, natsLink, log);

  const [host] = splitHostPort(config.listenAddress);
  const port = await listen(server, config.listenAddress, meshServerCredentials(config.tls), 'SCHEDULER_ADDRESS');
  const dispatcher = new Dispatcher(context);
  dispatcher.start();
  const sweeper = setInterval(() => {
    sweepFinishedJobs(context, config.retentionMs).catch((error: unknown) => log.warn({ err: error }, 'retention sweep failed; it runs again later'));
  }, config.retentionSweepIntervalMs);
  sweeper.unref();
  // A new message id: de-duplication may still remember the lost message's.
  const orphanMemo: OrphanSweepMemo = {};
  const requeue = (nowMs?: number) =>
    requeueOrphans(context, (job) => jobs.enqueue(job, { messageId: `${job.id}.requeued.${Date.now()}` }), nowMs, orphanMemo);
  const orphanSweeper = setInterval(() => {
    requeue().catch((error: unknown) =>
      log.warn({ err: error }, 'failed to look for queued jobs without a queue message; it runs again later'),
    );
  }, orphanSweepIntervalMs);
  orphanSweeper.unref();
  log.info(
    { address: `${host}:${port}`, schedulerId: config.schedulerId, nats: config.natsUrl, transport: config.tls ? 'mutual TLS' : 'plaintext' },
    'scheduler started',
  );

  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      log.info('scheduler stopping');
      dispatcher.stop();
      // Jobs handed out may finish instead of starting again elsewhere, and no new ones go out meanwhile.
      // The replica stays ready and keeps serving calls: gateways report its health as their own, so a
      // replica that reported itself not ready would take the gateways out of service during the drain.
      const held = context.pool.heldJobs();
      if (held > 0 && config.drainGraceMs > 0) {
        log.info({ jobs: held, graceMs: config.drainGraceMs }, 'letting the workers finish their jobs before stopping');
        const idle = await context.pool.waitUntilIdle(config.drainGraceMs);
        if (!idle) {
          const next = config.adoptionGraceMs > 0 ? 'leaving the running jobs to the replica their workers reconnect to' : 'handing the running jobs back to the queue';
          log.info({ jobs: context.pool.heldJobs() }, `the drain grace is over; ${next}`);
        }
      }
      clearInterval(sweeper);
      clearInterval(orphanSweeper);
      shuttingDown.abort();
      await links.closeAll();
      await shutdown(server, config.shutdownGraceMs);
      cancelSubscription.unsubscribe();
      poolSubscription.unsubscribe();
      await nats.nc.drain().catch(() => nats.nc.close());
      log.info('scheduler stopped');
    })());
  return { address: `${host}:${port}`, context, readiness, requeueOrphans: requeue, stop };
}

export function splitHostPort(address: string): [string, number] {
  const index = address.lastIndexOf(':');
  return [address.slice(0, index), Number(address.slice(index + 1))];
}
