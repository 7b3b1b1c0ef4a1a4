import { register } from 'node:module';
import { metrics } from '@opentelemetry/api';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { GrpcInstrumentation } from '@opentelemetry/instrumentation-grpc';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import { NodeSDK } from '@opentelemetry/sdk-node';
import { ATTR_SERVICE_NAME } from '@opentelemetry/semantic-conventions';
import {
  BatchSpanProcessor,
  ConsoleSpanExporter,
  type ReadableSpan,
  type Span,
  type SpanExporter,
  type SpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { readAddress } from './config.js';
import type { Logger } from './logger.js';
import { startMetricsServer, type MetricsServer } from './metrics-server.js';
import type { Readiness } from './readiness.js';

/**
 * gRPC methods left out of automatic tracing. The worker's stream lives for
 * hours and carries many jobs, so each job travels with its own context
 * instead. The others are polls that would bury the job traces.
 */
const untracedMethods = ['Connect', 'GetPool', 'Check'];

export interface TelemetryOptions {
  /** `service.name` when OTEL_SERVICE_NAME is unset, such as `faas-gateway`. */
  serviceName: string;
  log: Logger;
}

export interface Telemetry {
  /** True when spans leave the process. */
  exporting: boolean;
  /**
   * Serves `/metrics` and `/healthz` on FAAS_METRICS_ADDRESS, when it is set,
   * with `readiness` behind `/healthz`. Returns the bound host:port.
   */
  serveMetrics(readiness: Readiness): Promise<string | undefined>;
  /** Flushes spans and stops the metrics endpoint. */
  shutdown(): Promise<void>;
}

/**
 * Starts OpenTelemetry for a service process. Call it before anything imports
 * @grpc/grpc-js: it installs the module hook through which the gRPC
 * instrumentation patches the library when ES modules import it.
 *
 * Spans leave the process only when the standard variables ask for it
 * (OTEL_TRACES_EXPORTER, OTEL_EXPORTER_OTLP_ENDPOINT or
 * OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, with OTEL_EXPORTER_OTLP_PROTOCOL
 * http/protobuf, http/json or grpc). Otherwise no spans are made and no trace
 * context is kept or passed on. OTEL_SDK_DISABLED=true turns tracing off
 * too. Metrics go to the Prometheus endpoint on FAAS_METRICS_ADDRESS.
 */
export async function startTelemetry(options: TelemetryOptions): Promise<Telemetry> {
  const env = process.env;
  const metricsAddress = env.FAAS_METRICS_ADDRESS ? readAddress(env, 'FAAS_METRICS_ADDRESS', '') : undefined;
  const prometheus = new PrometheusExporter({ preventServerStart: true });
  let sdk: NodeSDK | undefined;
  let meters: MeterProvider | undefined;
  let exporting = false;

  if (env.OTEL_SDK_DISABLED?.trim().toLowerCase() !== 'true') {
    const exporter = await traceExporterFromEnv(env);
    exporting = exporter !== undefined;
    if (exporter) {
      register('@opentelemetry/instrumentation/hook.mjs', import.meta.url, { data: { include: ['@grpc/grpc-js'] } });
      sdk = new NodeSDK({
        ...(env.OTEL_SERVICE_NAME ? {} : { serviceName: options.serviceName }),
        instrumentations: [new GrpcInstrumentation({ ignoreGrpcMethods: untracedMethods })],
        spanProcessors: [new RpcSpanNames(), new BatchSpanProcessor(exporter)],
        metricReaders: [prometheus],
        logRecordProcessors: [],
      });
      sdk.start();
    } else {
      // Spans that would go nowhere are not made: keeping the trace context of every call cost a tenth of the platform's CPU per job.
      meters = new MeterProvider({ resource: resourceFromAttributes({ [ATTR_SERVICE_NAME]: env.OTEL_SERVICE_NAME || options.serviceName }), readers: [prometheus] });
      metrics.setGlobalMeterProvider(meters);
    }
  }
  observeProcess();

  let server: MetricsServer | undefined;
  return {
    exporting,
    async serveMetrics(readiness) {
      if (metricsAddress === undefined) return undefined;
      server = await startMetricsServer({ address: metricsAddress, prometheus, readiness, log: options.log });
      return server.address;
    },
    async shutdown() {
      await server?.close();
      await sdk?.shutdown().catch((error: unknown) => options.log.warn({ err: error }, 'failed to flush telemetry'));
      await meters?.shutdown().catch((error: unknown) => options.log.warn({ err: error }, 'failed to stop the metrics provider'));
    },
  };
}

/** Picks the span exporter the standard variables name, or none. */
export async function traceExporterFromEnv(env: NodeJS.ProcessEnv): Promise<SpanExporter | undefined> {
  const named = env.OTEL_TRACES_EXPORTER?.split(',').map((name) => name.trim()).filter((name) => name !== '') ?? [];
  const endpoint = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT || env.OTEL_EXPORTER_OTLP_ENDPOINT;
  const kind = named[0] ?? (endpoint ? 'otlp' : 'none');
  if (kind === 'none') return undefined;
  if (kind === 'console') return new ConsoleSpanExporter();
  if (kind !== 'otlp') {
    throw new Error(`OTEL_TRACES_EXPORTER is "${kind}"; use otlp, console or none`);
  }
  const protocol = (env.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL || env.OTEL_EXPORTER_OTLP_PROTOCOL || 'http/protobuf').trim();
  switch (protocol) {
    case 'http/protobuf':
      return new (await import('@opentelemetry/exporter-trace-otlp-proto')).OTLPTraceExporter();
    case 'http/json':
      return new (await import('@opentelemetry/exporter-trace-otlp-http')).OTLPTraceExporter();
    case 'grpc':
      return new (await import('@opentelemetry/exporter-trace-otlp-grpc')).OTLPTraceExporter();
    default:
      throw new Error(`OTEL_EXPORTER_OTLP_PROTOCOL is "${protocol}"; use http/protobuf, http/json or grpc`);
  }
}

/** Registers the gauges every service has: the resident memory of its process. */
function observeProcess(): void {
  metrics
    .getMeter('faas')
    .createObservableGauge('process.memory.usage', { unit: 'By', description: 'Resident memory of the service process' })
    .addCallback((result) => result.observe(process.memoryUsage.rss()));
}

/**
 * The gRPC instrumentation names spans `grpc.<service>/<method>`; the
 * OpenTelemetry RPC conventions name them `<package.service>/<method>`.
 * This processor drops the prefix as a span starts.
 */
class RpcSpanNames implements SpanProcessor {
  onStart(span: Span): void {
    if (span.instrumentationScope.name === '@opentelemetry/instrumentation-grpc' && span.name.startsWith('grpc.')) {
      span.updateName(span.name.slice('grpc.'.length));
    }
  }

  onEnd(_span: ReadableSpan): void {}

  async forceFlush(): Promise<void> {}

  async shutdown(): Promise<void> {}
}
