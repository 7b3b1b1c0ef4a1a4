import assert from 'node:assert/strict';
import { OTLPTraceExporter as GrpcExporter } from '@opentelemetry/exporter-trace-otlp-grpc';
import { OTLPTraceExporter as JsonExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as ProtobufExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { ConsoleSpanExporter } from '@opentelemetry/sdk-trace-base';
import { traceExporterFromEnv } from './telemetry.js';

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
