import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { credentials, Metadata, type ChannelCredentials } from '@grpc/grpc-js';
import { randomBytes } from 'node:crypto';
import { JobState } from '../gen/faas/v1/job.js';
import { ListRequest } from '../gen/faas/v1/job_service.js';
import { defaultDevServiceAccounts } from '../dev/identity-provider.js';
import { call as grpcWeb } from './grpc-web-client.js';
import { HealthCheckResponse_ServingStatus, HealthClient } from '../gen/grpc/health/v1/health.js';
import { meshChannelCredentials, meshChannelOptions } from '../common/tls.js';
import { ensureDevCertificates } from '../dev/certificates.js';
import { ProcessStack, waitFor, waitForFinal } from './reliability/support.js';
import { OtlpReceiver, type ReceivedSpan } from './telemetry/otlp-receiver.js';
import { scrape, total, type Sample } from './telemetry/prometheus-text.js';

const serverKind = 2;
const clientKind = 3;
const producerKind = 4;
const consumerKind = 5;

describe('telemetry across separate service processes', function () {
  this.timeout(120_000);
  let receiver: OtlpReceiver;
  let processes: ProcessStack;

  before(async function () {
    this.timeout(60_000);
    receiver = await OtlpReceiver.start();
    processes = await ProcessStack.start({
      workers: 1,
      env: {
        OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
        OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
        OTEL_BSP_SCHEDULE_DELAY: '200',
      },
    });
  });
  after(async function () {
    this.timeout(60_000);
    await processes?.stop();
    await receiver?.stop();
  });

  const metricsOf = (name: string): Promise<Sample[]> => {
    const service = processes.stack.services().find((candidate) => candidate.name === name);
    assert.ok(service, `no service ${name}`);
    return scrape(service.metricsAddress);
  };

  it('traces one job across three processes', async () => {
    const client = processes.client();
    const repositoryUrl = await processes.repository({ 'main.c': '#include <stdio.h>\nint main(void) { puts("traced"); return 0; }\n' });
    const before = {
      scheduler: await metricsOf('scheduler'),
      worker: await metricsOf('worker-0'),
      gateway: await metricsOf('gateway'),
    };
    const { job } = await client.submit({ repositoryUrl });
    const done = await waitForFinal(client, job!.id, 60_000);
    assert.equal(done.state, JobState.JOB_STATE_SUCCEEDED, done.error?.message);

    // The producer span names the job; its trace is the job's trace.
    let spans: ReceivedSpan[] = [];
    await waitFor(
      () => {
        const publish = receiver.spans.find((span) => span.kind === producerKind && span.attributes['faas.job.id'] === job!.id);
        spans = publish ? receiver.trace(publish.traceId) : [];
        // Each process exports on its own schedule, so wait for the last span of each.
        const names = new Set(spans.map((span) => span.name));
        return ['store result', 'job attempt', 'run'].every((name) => names.has(name)) && spans.filter((span) => span.service === 'faas-gateway').length === 2;
      },
      20_000,
      'the spans of the job to reach the receiver',
    );
    const one = (name: string, service: string, kind?: number): ReceivedSpan => {
      const found = spans.filter((span) => span.name === name && span.service === service && (kind === undefined || span.kind === kind));
      assert.equal(found.length, 1, `expected one ${name} span from ${service}, found ${found.length}: ${spans.map((s) => `${s.service}/${s.name}`).join(', ')}`);
      return found[0];
    };
    const gatewayServer = one('faas.v1.JobService/Submit', 'faas-gateway', serverKind);
    const gatewayClient = one('faas.v1.JobService/Submit', 'faas-gateway', clientKind);
    const schedulerServer = one('faas.v1.JobService/Submit', 'faas-scheduler', serverKind);
    const publish = spans.find((span) => span.kind === producerKind)!;
    const queueWait = one('queue wait', 'faas-scheduler');
    const dispatch = spans.find((span) => span.kind === consumerKind && span.service === 'faas-scheduler')!;
    const attempt = one('job attempt', 'faas-worker');
    const clone = one('clone', 'faas-worker');
    const build = one('build', 'faas-worker');
    const run = one('run', 'faas-worker');
    const store = one('store result', 'faas-scheduler');

    // Three processes, each with its own pid, exported these spans.
    const pids = new Map(spans.map((span) => [span.service, span.pid]));
    assert.equal(new Set(pids.values()).size, 3, `pids by service: ${JSON.stringify([...pids])}`);
    assert.equal(pids.get('faas-worker'), processes.stack.services().find((s) => s.name === 'worker-0')!.pid);

    // Parent links: the gRPC hop, the NATS hop and the worker stream.
    assert.equal(gatewayServer.parentSpanId, '', 'the gateway Submit span is the root');
    assert.equal(gatewayClient.parentSpanId, gatewayServer.spanId);
    assert.equal(schedulerServer.parentSpanId, gatewayClient.spanId);
    assert.equal(publish.parentSpanId, schedulerServer.spanId);
    assert.equal(dispatch.parentSpanId, publish.spanId, 'the consumer span continues the trace from the message headers');
    assert.equal(queueWait.parentSpanId, publish.spanId);
    assert.equal(attempt.parentSpanId, dispatch.spanId, "the worker's span continues the trace from the assignment");
    for (const step of [clone, build, run]) assert.equal(step.parentSpanId, attempt.spanId, `${step.name} is a step of the attempt`);
    assert.equal(store.parentSpanId, attempt.spanId, 'storing the result follows the outcome from the worker');
    assert.equal(spans.filter((span) => span.parentSpanId === '').length, 1, 'one root');

    // Attributes after the RPC and messaging conventions, plus the job's own.
    assert.equal(schedulerServer.attributes['rpc.system'], 'grpc');
    assert.equal(schedulerServer.attributes['rpc.service'], 'faas.v1.JobService');
    assert.equal(schedulerServer.attributes['rpc.method'], 'Submit');
    assert.equal(publish.name, `publish ${publish.attributes['messaging.destination.name']}`);
    assert.equal(publish.attributes['messaging.system'], 'nats');
    assert.equal(publish.attributes['messaging.operation.type'], 'send');
    assert.equal(dispatch.name, `process ${publish.attributes['messaging.destination.name']}`);
    assert.equal(dispatch.attributes['messaging.operation.type'], 'process');
    assert.equal(dispatch.attributes['faas.job.id'], job!.id);
    assert.equal(attempt.attributes['faas.job.id'], job!.id);
    assert.equal(attempt.attributes['faas.job.attempt'], 1);
    assert.equal(attempt.attributes['faas.worker.id'], done.workerId);
    assert.equal(attempt.attributes['faas.job.commit'], done.commitSha);
    assert.equal(run.attributes['process.exit.code'], 0);

    // The scheduler's log line about the job leads to the trace.
    const schedulerLog = await readFile(join(processes.stack.logDir, 'scheduler.log'), 'utf8');
    const lines = schedulerLog
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as { jobId?: string; msg: string; trace_id?: string; span_id?: string });
    const assigned = lines.find((line) => line.jobId === job!.id && line.msg === 'assigned job');
    assert.ok(assigned, 'the scheduler logged the assignment');
    assert.equal(assigned.trace_id, publish.traceId);
    assert.equal(assigned.span_id, dispatch.spanId);
    const workerLog = await readFile(join(processes.stack.logDir, 'worker-0.log'), 'utf8');
    const finished = workerLog
      .split('\n')
      .filter((line) => line.includes(job!.id) && line.includes('job finished'))
      .map((line) => JSON.parse(line) as { trace_id?: string; span_id?: string; state?: string });
    assert.equal(finished.length, 1);
    assert.equal(finished[0].state, 'succeeded');
    assert.equal(finished[0].trace_id, publish.traceId);
    assert.equal(finished[0].span_id, attempt.spanId);

    // The counters and histograms moved by exactly this job.
    const after = {
      scheduler: await metricsOf('scheduler'),
      worker: await metricsOf('worker-0'),
      gateway: await metricsOf('gateway'),
    };
    const moved = (service: keyof typeof after, name: string, labels: Record<string, string> = {}) =>
      total(after[service], name, labels) - total(before[service], name, labels);
    assert.equal(moved('scheduler', 'faas_jobs_submitted_total'), 1);
    assert.equal(moved('scheduler', 'faas_jobs_finished_total', { faas_job_state: 'succeeded', faas_job_failure_reason: 'none' }), 1);
    assert.equal(moved('scheduler', 'faas_job_attempts_total'), 1);
    assert.equal(moved('scheduler', 'faas_queue_redeliveries_total'), 0);
    assert.equal(moved('scheduler', 'faas_job_start_delay_count'), 1);
    assert.equal(moved('scheduler', 'faas_job_run_duration_count'), 1);
    for (const step of ['clone', 'build', 'run']) {
      assert.equal(moved('worker', 'faas_job_step_duration_count', { faas_job_step: step }), 1, `${step} duration`);
    }
    assert.equal(moved('gateway', 'rpc_server_call_duration_count', { rpc_method: 'Submit', rpc_grpc_status_code: '0' }), 1);
    // Gauges: the idle pool and the empty queue.
    assert.equal(total(after.scheduler, 'faas_worker_slots', { faas_slot_state: 'busy' }), 0);
    assert.equal(total(after.scheduler, 'faas_worker_slots', { faas_slot_state: 'free' }), 2);
    assert.equal(total(after.worker, 'faas_worker_slots', { faas_slot_state: 'free' }), 2);
    assert.equal(total(after.scheduler, 'faas_queue_depth', { faas_queue_state: 'pending' }), 0);
    assert.ok(after.scheduler.some((sample) => sample.name === 'faas_queue_oldest_pending_age'), 'the scheduler reports the oldest waiting job');
    assert.equal(total(after.scheduler, 'faas_queue_oldest_pending_age'), 0);
    const observer = await metricsOf('observer');
    for (const name of ['faas_workers_desired', 'faas_workers_current']) {
      assert.ok(observer.some((sample) => sample.name === name), `the observer reports ${name}`);
    }
    assert.ok(total(after.worker, 'process_memory_usage') > 0);
  });

  it('counts batch entries by status', async () => {
    const client = processes.client();
    const repositoryUrl = await processes.repository({ 'main.sh': 'true\n' });
    const before = await metricsOf('gateway');

    const outcomes = await Promise.allSettled([
      client.submit({ repositoryUrl }),
      client.submit({ repositoryUrl: 'ftp://example.com/repo.git' }),
      client.submit({ repositoryUrl }),
    ]);

    assert.deepEqual(outcomes.map((outcome) => outcome.status), ['fulfilled', 'rejected', 'fulfilled']);
    const after = await metricsOf('gateway');
    const moved = (name: string, labels: Record<string, string>) => total(after, name, labels) - total(before, name, labels);
    assert.equal(moved('rpc_server_call_duration_count', { rpc_method: 'SubmitBatch', rpc_grpc_status_code: '0' }), 1);
    assert.equal(moved('faas_submit_batch_entries_total', { rpc_grpc_status_code: '0' }), 2);
    assert.equal(moved('faas_submit_batch_entries_total', { rpc_grpc_status_code: '3' }), 1);
    for (const outcome of outcomes) {
      if (outcome.status === 'fulfilled') await waitForFinal(client, outcome.value.job!.id, 60_000);
    }
  });

  it('continues a browser trace through the grpc-web edge', async () => {
    const account = defaultDevServiceAccounts[0];
    const token = await processes.stack.identity.serviceToken(account.clientId, account.secret);
    const traceId = randomBytes(16).toString('hex');
    const browserSpanId = randomBytes(8).toString('hex');
    const reply = await grpcWeb(`http://${processes.stack.edgeAddress}`, '/faas.v1.JobService/List', ListRequest.encode(ListRequest.fromPartial({})).finish(), {
      token,
      headers: { traceparent: `00-${traceId}-${browserSpanId}-01` },
    });
    assert.equal(reply.code, 0, reply.message);

    let spans: ReceivedSpan[] = [];
    await waitFor(
      () => {
        spans = receiver.trace(traceId);
        return spans.some((span) => span.service === 'faas-scheduler') && spans.some((span) => span.service === 'faas-edge');
      },
      20_000,
      'the spans of the List call to reach the receiver',
    );
    const edge = spans.find((span) => span.service === 'faas-edge');
    assert.ok(edge, `no edge span among ${spans.map((s) => `${s.service}/${s.name}`).join(', ')}`);
    assert.equal(edge.name, 'faas.v1.JobService/List');
    assert.equal(edge.kind, clientKind);
    assert.equal(edge.parentSpanId, browserSpanId, "the edge's span continues the browser's");
    const gateway = spans.find((span) => span.service === 'faas-gateway' && span.kind === serverKind);
    assert.ok(gateway);
    assert.equal(gateway.parentSpanId, edge.spanId);
  });

  it('reports NOT_SERVING while NATS is down, and SERVING again once it is back', async () => {
    const certificates = await ensureDevCertificates(join(processes.dataDir, 'certs'));
    const mesh = {
      caFile: certificates.caFile,
      certFile: certificates.services.gateway.certFile,
      keyFile: certificates.services.gateway.keyFile,
    };
    const health = (address: string, channel: ChannelCredentials, options = {}) => {
      const client = new HealthClient(address, channel, options);
      return {
        client,
        status: () =>
          new Promise<string>((resolve) => {
            client.check({ service: '' }, new Metadata(), { deadline: new Date(Date.now() + 2_000) }, (error, response) =>
              resolve(error ? `error ${error.code}` : HealthCheckResponse_ServingStatus[response.status]),
            );
          }),
      };
    };
    const scheduler = health(processes.stack.schedulerAddress, meshChannelCredentials(mesh), meshChannelOptions(mesh, processes.stack.schedulerAddress));
    const observer = health(processes.stack.observerAddress, meshChannelCredentials(mesh), meshChannelOptions(mesh, processes.stack.observerAddress));
    const gateway = health(processes.stack.gatewayAddress, credentials.createInsecure());
    const schedulerHttp = processes.stack.services().find((service) => service.name === 'scheduler')!.metricsAddress;
    const healthz = async () => (await fetch(`http://${schedulerHttp}/healthz`)).status;
    const all = async () => [await scheduler.status(), await gateway.status(), await observer.status()].join(',');
    try {
      await waitFor(async () => (await all()) === 'SERVING,SERVING,SERVING', 10_000, 'every service to be SERVING');
      assert.equal(await healthz(), 200);

      const nats = processes.stack.natsServer!;
      await nats.kill();
      await waitFor(async () => (await all()) === 'NOT_SERVING,NOT_SERVING,NOT_SERVING', 20_000, 'every service to be NOT_SERVING');
      assert.equal(await healthz(), 503);
      const problems = (await (await fetch(`http://${schedulerHttp}/healthz`)).json()) as { problems: Record<string, string> };
      assert.match(problems.problems.nats, /NATS/);

      await nats.restart();
      await waitFor(async () => (await all()) === 'SERVING,SERVING,SERVING', 30_000, 'every service to be SERVING again');
      assert.equal(await healthz(), 200);
    } finally {
      scheduler.client.close();
      observer.client.close();
      gateway.client.close();
    }
  });
});
