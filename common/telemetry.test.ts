import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { OTLPTraceExporter as GrpcExporter } from '@opentelemetry/exporter-trace-otlp-grpc';
import { OTLPTraceExporter as JsonExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as ProtobufExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { ConsoleSpanExporter } from '@opentelemetry/sdk-trace-base';
import { traceExporterFromEnv } from './telemetry.js';

const execFileAsync = promisify(execFile);

describe('traceExporterFromEnv', () => {
  it('exports nothing when no variable asks for it', async () => {
    assert.equal(await traceExporterFromEnv({}), undefined);
    assert.equal(await traceExporterFromEnv({ OTEL_TRACES_EXPORTER: 'none', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318' }), undefined);
  });

  it('exports OTLP over HTTP with protobuf once an endpoint is set', async () => {
    const exporter = await traceExporterFromEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318' });
    assert.ok(exporter instanceof ProtobufExporter);
    await exporter.shutdown();
  });

  it('follows OTEL_EXPORTER_OTLP_PROTOCOL and OTEL_TRACES_EXPORTER', async () => {
    const kinds = { 'http/protobuf': ProtobufExporter, 'http/json': JsonExporter, grpc: GrpcExporter };
    for (const [protocol, kind] of Object.entries(kinds)) {
      const exporter = await traceExporterFromEnv({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://127.0.0.1:4318/v1/traces', OTEL_EXPORTER_OTLP_PROTOCOL: protocol });
      assert.ok(exporter instanceof kind, protocol);
      await exporter.shutdown();
    }
    assert.ok((await traceExporterFromEnv({ OTEL_TRACES_EXPORTER: 'console' })) instanceof ConsoleSpanExporter);
  });

  it('names the variable and the accepted values when a value is wrong', async () => {
    await assert.rejects(traceExporterFromEnv({ OTEL_TRACES_EXPORTER: 'zipkin' }), /OTEL_TRACES_EXPORTER is "zipkin"; use otlp, console or none/);
    await assert.rejects(
      traceExporterFromEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318', OTEL_EXPORTER_OTLP_PROTOCOL: 'udp' }),
      /OTEL_EXPORTER_OTLP_PROTOCOL is "udp"; use http\/protobuf, http\/json or grpc/,
    );
  });
});

describe('startTelemetry', () => {
  /** Starts telemetry in a new process with `env` and reports whether spans record and metrics are served. */
  async function probe(env: Record<string, string>): Promise<{ exporting: boolean; recording: boolean; metrics: boolean }> {
    const module = (name: string) => JSON.stringify(fileURLToPath(new URL(name, import.meta.url)));
    const script = `
      import { trace } from '@opentelemetry/api';
      import { createLogger } from ${module('./logger.ts')};
      import { Readiness } from ${module('./readiness.ts')};
      import { startTelemetry } from ${module('./telemetry.ts')};
      const telemetry = await startTelemetry({ serviceName: 'faas-probe', log: createLogger('probe', 'silent') });
      const address = await telemetry.serveMetrics(new Readiness());
      const recording = trace.getTracer('probe').startSpan('probe').isRecording();
      const metrics = (await (await fetch('http://' + address + '/metrics')).text()).includes('process_memory_usage');
      console.log(JSON.stringify({ exporting: telemetry.exporting, recording, metrics }));
      await telemetry.shutdown();
    `;
    const { stdout } = await execFileAsync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      cwd: fileURLToPath(new URL('..', import.meta.url)),
      env: { PATH: process.env.PATH ?? '', FAAS_METRICS_ADDRESS: '127.0.0.1:0', ...env },
      timeout: 30_000,
    });
    return JSON.parse(stdout.trim().split('\n').at(-1)!);
  }

  it('makes no spans without an exporter', async () => {
    assert.deepEqual(await probe({}), { exporting: false, recording: false, metrics: true });
  });

  it('records spans for an exporter', async () => {
    assert.deepEqual(await probe({ OTEL_TRACES_EXPORTER: 'console' }), { exporting: true, recording: true, metrics: true });
  });
});
