import { readFileSync } from 'node:fs';
import { ServerCredentials, status as GrpcStatus, type Metadata } from '@grpc/grpc-js';
import {
  JobServiceService,
  type CancelRequest,
  type ListRequest,
  type LogsRequest,
  type LogsResponse,
  type ResultRequest,
  type StatusRequest,
  type SubmitBatchEntry,
  type SubmitBatchRequest,
  type SubmitRequest,
  type WatchRequest,
  type WatchResponse,
} from '../../gen/faas/v1/job_service.js';
import { callerMetadata } from '../../common/caller.js';
import { ErrorCode, FaasError, invalidArgument, isServiceError } from '../../common/errors.js';
import { isJobId } from '../../common/ids.js';
import { addHealth, createServer, listen, logFailure, serverStream, shutdown, unary, tolerantService } from '../../common/grpc-server.js';
import { followUpstreamHealth } from '../../common/health-probe.js';
import { specLimits } from '../../common/limits.js';
import { countEntries, rejectedEntry, submitEach, validateBatchSize } from '../../common/submit-batch.js';
import { Readiness } from '../../common/readiness.js';
import type { Logger } from '../../common/logger.js';
import { validateCancelReason, validateJobId, validateSpec, validateStateFilter } from '../../common/validation.js';
import type { GatewayConfig } from './config.js';
import { TokenVerifier, type Permission } from './auth.js';
import { addReflection } from './reflection.js';
import {
  ObserverServiceClient,
  ObserverServiceService,
  type ListScaleEventsRequest,
  type ScaleRequest,
} from '../../gen/faas/observer/v1/observer_service.js';
import { meshChannelCredentials, meshChannelOptions } from '../../common/tls.js';
import { callUnary, createSchedulerClient, relayStream } from './scheduler-client.js';

export interface RunningGateway {
  address: string;
  /** SERVING while the scheduler reports SERVING. */
  readiness: Readiness;
  stop(): Promise<void>;
}

/**
 * Starts the public faas.v1.JobService: each call is identified, validated
 * in full, and then forwarded to the scheduler on the caller's behalf.
 */
export async function startGateway(config: GatewayConfig, log: Logger): Promise<RunningGateway> {
  const scheduler = createSchedulerClient(config.schedulerAddress, config.meshTls);
  const policy = { allowHttp: config.allowHttp, maxTimeoutSeconds: config.maxTimeoutSeconds };
  const verifier = new TokenVerifier(config.auth, log);
  // Identity comes only from the verified token; headers such as a proxy's
  // forwarded claims are never read.
  const forward = async (metadata: Metadata, permission: Permission) => {
    const identity = await verifier.authenticate(metadata);
    verifier.authorize(identity, permission);
    return callerMetadata(identity);
  };
  const timeout = config.callTimeoutMs;
  // A call without valid credentials gets UNAUTHENTICATED even when its body cannot be decoded.
  const authenticateFirst = { authenticate: (metadata: Metadata) => verifier.authenticate(metadata) };

  // A scheduler of an earlier version, met during a rolling upgrade, has no SubmitBatch, so each request then goes as Submit.
  let warnedNoBatch = false;
  const forwardBatch = async (requests: SubmitRequest[], outgoing: Metadata, signal: AbortSignal): Promise<SubmitBatchEntry[]> => {
    try {
      const response = await callUnary(scheduler.submitBatch.bind(scheduler), { requests }, outgoing, timeout, signal);
      return response.entries;
    } catch (error) {
      if (!(isServiceError(error) && error.code === GrpcStatus.UNIMPLEMENTED)) throw error;
      if (!warnedNoBatch) log.warn('the scheduler has no SubmitBatch (an earlier version), so each request of a batch goes to it as a Submit; upgrade the scheduler');
      warnedNoBatch = true;
      return submitEach(
        requests,
        (item) => callUnary(scheduler.submit.bind(scheduler), item, outgoing, timeout, signal),
        (failure) => logFailure(log, 'SubmitBatch', failure),
      );
    }
  };

  const shuttingDown = new AbortController();
  const server = createServer();
  server.addService(tolerantService(JobServiceService), {
    submit: unary(log, 'Submit', async (request: SubmitRequest, metadata, signal) => {
      const outgoing = await forward(metadata, 'submit');
      validateSpec(request.spec, policy);
      return callUnary(scheduler.submit.bind(scheduler), request, outgoing, timeout, signal);
    }, authenticateFirst),
    submitBatch: unary(log, 'SubmitBatch', async (request: SubmitBatchRequest, metadata, signal) => {
      const outgoing = await forward(metadata, 'submit');
      validateBatchSize(request.requests.length);
      // A request that fails validation gets its entry here, and the others go to the scheduler in one call.
      const entries: SubmitBatchEntry[] = [];
      const forwarded: number[] = [];
      request.requests.forEach((item, index) => {
        try {
          validateSpec(item.spec, policy);
          forwarded.push(index);
        } catch (error) {
          const failure = FaasError.from(error);
          logFailure(log, 'SubmitBatch', failure);
          entries[index] = rejectedEntry(failure);
        }
      });
      if (forwarded.length > 0) {
        const requests = forwarded.map((index) => request.requests[index]);
        const response = await forwardBatch(requests, outgoing, signal);
        if (response.length !== requests.length) {
          throw new FaasError(ErrorCode.Internal, `the scheduler returned ${response.length} entries for ${requests.length} requests`);
        }
        forwarded.forEach((index, position) => {
          entries[index] = response[position];
        });
      }
      countEntries(entries);
      return { entries };
    }, authenticateFirst),
    status: unary(log, 'Status', async (request: StatusRequest, metadata, signal) => {
      const outgoing = await forward(metadata, 'read');
      validateJobId(request.jobId);
      return callUnary(scheduler.status.bind(scheduler), request, outgoing, timeout, signal);
    }, authenticateFirst),
    result: unary(log, 'Result', async (request: ResultRequest, metadata, signal) => {
      const outgoing = await forward(metadata, 'read');
      validateJobId(request.jobId);
      return callUnary(scheduler.result.bind(scheduler), request, outgoing, timeout, signal);
    }, authenticateFirst),
    list: unary(log, 'List', async (request: ListRequest, metadata, signal) => {
      const outgoing = await forward(metadata, 'read');
      validateListRequest(request);
      return callUnary(scheduler.list.bind(scheduler), request, outgoing, timeout, signal);
    }, authenticateFirst),
    cancel: unary(log, 'Cancel', async (request: CancelRequest, metadata, signal) => {
      const outgoing = await forward(metadata, 'cancel');
      validateJobId(request.jobId);
      validateCancelReason(request.reason);
      return callUnary(scheduler.cancel.bind(scheduler), request, outgoing, timeout, signal);
    }, authenticateFirst),
    watch: serverStream(log, 'Watch', async (request: WatchRequest, metadata, send, signal) => {
      const outgoing = await forward(metadata, 'read');
      validateJobId(request.jobId);
      // Watch replays the job's history from the start, so a resumed stream
      // skips the records already relayed.
      let skip = 0;
      await relayStream<WatchResponse>(
        (relayed) => {
          skip = relayed;
          return scheduler.watch(request, outgoing);
        },
        async (message) => {
          if (skip > 0) {
            skip--;
            return;
          }
          await send(message);
        },
        signal,
        config.streamResumeMs,
      );
    }, shuttingDown.signal, authenticateFirst),
    logs: serverStream(log, 'Logs', async (request: LogsRequest, metadata, send, signal) => {
      const outgoing = await forward(metadata, 'read');
      validateJobId(request.jobId);
      let nextOffset = request.offset;
      await relayStream<LogsResponse>(
        () => scheduler.logs({ ...request, offset: nextOffset }, outgoing),
        async (chunk) => {
          await send(chunk);
          nextOffset = chunk.offset + chunk.data.length;
        },
        signal,
        config.streamResumeMs,
      );
    }, shuttingDown.signal, authenticateFirst),
  });
  // The observer stays internal; admins reach its decisions through here.
  const observer = new ObserverServiceClient(config.observerAddress, meshChannelCredentials(config.meshTls), meshChannelOptions(config.meshTls, config.observerAddress));
  server.addService(tolerantService(ObserverServiceService), {
    scale: unary(log, 'Scale', async (request: ScaleRequest, metadata, signal) => {
      const outgoing = await forward(metadata, 'scale');
      return callUnary(observer.scale.bind(observer), request, outgoing, timeout, signal);
    }, authenticateFirst),
    listScaleEvents: unary(log, 'ListScaleEvents', async (request: ListScaleEventsRequest, metadata, signal) => {
      const outgoing = await forward(metadata, 'scale');
      return callUnary(observer.listScaleEvents.bind(observer), request, outgoing, timeout, signal);
    }, authenticateFirst),
  });
  // The gateway can take no job while the scheduler cannot.
  const readiness = new Readiness();
  addHealth(server, ['faas.v1.JobService', 'faas.observer.v1.ObserverService'], readiness);
  const stopHealthProbe = followUpstreamHealth({
    condition: 'scheduler',
    address: config.schedulerAddress,
    credentials: meshChannelCredentials(config.meshTls),
    channelOptions: meshChannelOptions(config.meshTls, config.schedulerAddress),
    readiness,
    log,
  });
  addReflection(server, ['faas.v1.JobService', 'faas.observer.v1.ObserverService', 'grpc.health.v1.Health']);

  const port = await listen(server, config.listenAddress, publicCredentials(config), 'GATEWAY_ADDRESS');
  const host = config.listenAddress.slice(0, config.listenAddress.lastIndexOf(':'));
  log.info(
    { address: `${host}:${port}`, scheduler: config.schedulerAddress, transport: config.publicTls ? 'TLS' : 'plaintext' },
    'gateway started',
  );

  return {
    address: `${host}:${port}`,
    readiness,
    async stop() {
      log.info('gateway stopping');
      stopHealthProbe();
      shuttingDown.abort();
      await shutdown(server, config.shutdownGraceMs);
      scheduler.close();
      observer.close();
      log.info('gateway stopped');
    },
  };
}

function publicCredentials(config: GatewayConfig): ServerCredentials {
  if (!config.publicTls) return ServerCredentials.createInsecure();
  return ServerCredentials.createSsl(null, [
    { cert_chain: readFileSync(config.publicTls.certFile), private_key: readFileSync(config.publicTls.keyFile) },
  ]);
}

function validateListRequest(request: ListRequest): void {
  if (request.pageSize > specLimits.listPageSizeMax) {
    throw invalidArgument('page_size', `is ${request.pageSize}; use 1 to ${specLimits.listPageSizeMax}, or 0 for ${specLimits.listPageSizeDefault}`);
  }
  validateStateFilter(request.state);
  if (request.pageToken !== '' && !isJobId(request.pageToken)) {
    throw invalidArgument(
      'page_token',
      `"${request.pageToken.slice(0, 64)}" is not a token from a previous page; pass next_page_token of the last ListResponse, or leave it empty for the first page`,
    );
  }
}
