import {
  context,
  propagation,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  type Attributes,
  type Context,
  type Span,
  type SpanOptions,
  type TextMapGetter,
  type TextMapSetter,
} from '@opentelemetry/api';
import { errorMessage } from './errors.js';

export { context, ROOT_CONTEXT, SpanKind, trace, type Attributes, type Context, type Span };

/** Attribute names of the platform's own span attributes. */
export const jobAttributes = {
  jobId: 'faas.job.id',
  attempt: 'faas.job.attempt',
  workerId: 'faas.worker.id',
  commit: 'faas.job.commit',
  repository: 'faas.job.repository',
  state: 'faas.job.state',
  phase: 'faas.job.phase',
} as const;

export function tracer() {
  return trace.getTracer('faas');
}

/** W3C trace context headers (`traceparent`, `tracestate`) of `ctx`, for a message field. */
export function carrierOf(ctx: Context = context.active()): Record<string, string> {
  const carrier: Record<string, string> = {};
  propagation.inject(ctx, carrier);
  return carrier;
}

/** Returns the context that `carrierOf` wrote, on top of `base`. */
export function contextFrom(carrier: Record<string, string> | undefined, base: Context = context.active()): Context {
  return carrier ? propagation.extract(base, carrier) : base;
}

/** Anything with `get` and `set` of string values, such as NATS message headers. */
export interface HeaderMap {
  get(key: string): string;
  set(key: string, value: string): void;
}

const headerSetter: TextMapSetter<HeaderMap> = { set: (headers, key, value) => headers.set(key, value) };
const headerGetter: TextMapGetter<HeaderMap> = {
  get: (headers, key) => headers.get(key) || undefined,
  keys: () => ['traceparent', 'tracestate', 'baggage'],
};

export function injectHeaders(headers: HeaderMap, ctx: Context = context.active()): void {
  propagation.inject(ctx, headers, headerSetter);
}

export function extractHeaders(headers: HeaderMap | undefined, base: Context = context.active()): Context {
  return headers ? propagation.extract(base, headers, headerGetter) : base;
}

/**
 * Runs `work` inside a new active span and ends it afterwards. A thrown
 * error marks the span as failed and is thrown again.
 */
export async function inSpan<T>(
  name: string,
  options: SpanOptions & { parent?: Context },
  work: (span: Span) => Promise<T>,
): Promise<T> {
  const { parent, ...spanOptions } = options;
  return tracer().startActiveSpan(name, spanOptions, parent ?? context.active(), async (span) => {
    try {
      return await work(span);
    } catch (error) {
      failSpan(span, error);
      throw error;
    } finally {
      span.end();
    }
  });
}

/** Records `error` on `span` and marks the span as failed. */
export function failSpan(span: Span, error: unknown): void {
  if (error instanceof Error) span.recordException(error);
  span.setStatus({ code: SpanStatusCode.ERROR, message: errorMessage(error) });
}

/** Attributes of a NATS message span, after the OpenTelemetry messaging conventions. */
export function messagingAttributes(operation: 'send' | 'receive' | 'process', subject: string, extra: Attributes = {}): Attributes {
  return {
    'messaging.system': 'nats',
    'messaging.operation.type': operation,
    'messaging.operation.name': operation === 'send' ? 'publish' : operation,
    'messaging.destination.name': subject,
    ...extra,
  };
}
