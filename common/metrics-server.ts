import { createServer, type Server } from 'node:http';
import type { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { listenHttp } from './http-listen.js';
import type { Logger } from './logger.js';
import type { Readiness } from './readiness.js';

export interface MetricsServerOptions {
  /** host:port to listen on; port 0 picks a free one. */
  address: string;
  prometheus: PrometheusExporter;
  readiness: Readiness;
  log: Logger;
}

export interface MetricsServer {
  /** The bound host:port. */
  address: string;
  close(): Promise<void>;
}

/**
 * Serves the operator's HTTP endpoints of a service: `GET /metrics` in the
 * Prometheus text format, and `GET /healthz`, which returns 200 while the
 * service is ready and 503 with the failing conditions otherwise.
 */
export async function startMetricsServer(options: MetricsServerOptions): Promise<MetricsServer> {
  const { prometheus, readiness } = options;
  const server: Server = createServer((request, response) => {
    const path = new URL(request.url ?? '/', 'http://localhost').pathname;
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      response.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' }).end('use GET\n');
    } else if (path === '/metrics') {
      prometheus.getMetricsRequestHandler(request, response);
    } else if (path === '/healthz') {
      const body = JSON.stringify({ status: readiness.ready ? 'SERVING' : 'NOT_SERVING', problems: readiness.problems() });
      response.writeHead(readiness.ready ? 200 : 503, { 'content-type': 'application/json' }).end(`${body}\n`);
    } else {
      response.writeHead(404, { 'content-type': 'text/plain' }).end('not found; the endpoints are /metrics and /healthz\n');
    }
  });
  const address = await listenHttp(server, options.address, 'FAAS_METRICS_ADDRESS');
  server.on('error', (error) => options.log.error({ err: error }, 'metrics endpoint failed'));
  options.log.info({ address }, 'serving /metrics and /healthz');
  return {
    address,
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
