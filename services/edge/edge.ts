import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { status as GrpcStatus } from '@grpc/grpc-js';
import { listenHttp } from '../../common/http-listen.js';
import { createLogger, type Logger } from '../../common/logger.js';
import { isLoopbackAddress } from '../../common/tls.js';
import type { EdgeConfig } from './config.js';
import { CorsPolicy, requestOrigin } from './cors.js';
import { parseGrpcWebContentType } from './grpc-web.js';
import { GrpcWebResponse } from './grpc-web-response.js';
import { proxyGrpcWeb, type ActiveCall, type ProxyContext } from './proxy.js';
import { sendText, StaticFiles } from './static-files.js';
import { GatewayChannel } from './upstream.js';

export interface RunningEdge {
  /** host:port the edge listens on. */
  address: string;
  /** `http://host:port`, the page's origin. */
  url: string;
  /** Stops accepting requests, ends streams with UNAVAILABLE, waits for unary calls up to the grace period, and closes the gateway channel. */
  close(): Promise<void>;
}

/** The gateway service whose health `/healthz` reports, the same one Envoy's health check names. */
const healthService = 'faas.v1.JobService';
const healthTimeoutMs = 2_000;

/**
 * Starts the edge: an HTTP/1.1 server for browsers that serves the built
 * page, its runtime settings at /config.json, a health probe at /healthz,
 * and translates grpc-web POSTs into gRPC calls to the gateway.
 */
export async function startEdge(config: EdgeConfig, log: Logger = createLogger('edge')): Promise<RunningEdge> {
  const gateway = new GatewayChannel(config.gatewayAddress, config.meshTls);
  const cors = new CorsPolicy(config.corsOrigins);
  const files = new StaticFiles(config.webRoot, log);
  const activeCalls = new Set<ActiveCall>();
  const proxy: ProxyContext = {
    gateway,
    log,
    activeCalls,
    settings: { grpcWeb: config.grpcWeb, maxRequestBytes: config.maxRequestBytes, unaryTimeoutMs: config.unaryTimeoutMs },
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    res.setHeader('x-content-type-options', 'nosniff');
    const pathname = (req.url ?? '/').split('?')[0]!;
    switch (req.method) {
      case 'OPTIONS':
        cors.respondToPreflight(req, res);
        return;
      case 'POST':
        await handlePost(req, res, pathname, cors, proxy);
        return;
      case 'GET':
      case 'HEAD':
        if (pathname === '/healthz') return await sendHealth(res, gateway, log);
        if (pathname === '/config.json') return sendPageConfig(req, res, config);
        await files.serve(req, res, pathname);
        return;
      default:
        res.setHeader('allow', 'GET, HEAD, POST, OPTIONS');
        sendText(res, 405, `Method ${req.method} is not allowed; use GET or HEAD for the page and POST for grpc-web.\n`);
    }
  };

  // NOTE: HTTP/1.1 only. Browsers allow just a few HTTP/1.1 connections per
  // origin, and each open Watch or Logs stream occupies one, so a page with many
  // open streams stalls its other calls. Envoy serves browsers over HTTP/2.
  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      log.error({ err: error, method: req.method, url: req.url }, 'request failed');
      if (!res.headersSent) sendText(res, 500, 'Internal error.\n');
      else res.destroy();
    });
  });
  const address = await listenHttp(server, config.listenAddress, 'FAAS_EDGE_ADDRESS');
  const url = `http://${address}`;
  if (config.grpcWeb && !isLoopbackAddress(address)) {
    log.warn({ address }, 'grpc-web is served over plain HTTP on a non-loopback address; put a TLS proxy in front, since requests carry tokens');
  }
  log.info(
    { address, gateway: config.gatewayAddress, grpcWeb: config.grpcWeb, webRoot: config.webRoot, corsOrigins: config.corsOrigins },
    'edge started',
  );

  return {
    address,
    url,
    async close() {
      log.info({ activeCalls: activeCalls.size }, 'edge stopping');
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      // Streams never end by themselves, and their clients reopen them elsewhere on UNAVAILABLE.
      for (const call of activeCalls) if (call.kind === 'server-streaming') call.abandon();
      await waitForCalls(activeCalls, config.shutdownGraceMs);
      for (const call of activeCalls) call.abandon();
      server.closeAllConnections();
      await closed;
      gateway.close();
      log.info('edge stopped');
    },
  };
}

async function handlePost(req: IncomingMessage, res: ServerResponse, pathname: string, cors: CorsPolicy, proxy: ProxyContext): Promise<void> {
  const { log } = proxy;
  const contentType = parseGrpcWebContentType(req.headers['content-type']);
  if (!contentType) {
    sendText(res, 415, 'POST is for grpc-web: send content-type application/grpc-web+proto or application/grpc-web-text+proto.\n');
    return;
  }
  if (cors.judge(req) === 'refused') {
    log.debug({ path: pathname, origin: req.headers.origin }, 'grpc-web call from an origin not in FAAS_CORS_ORIGINS rejected');
    // No CORS headers, so a browser does not let the page read this either.
    new GrpcWebResponse(res, contentType).end(
      GrpcStatus.PERMISSION_DENIED,
      `origin ${req.headers.origin} may not call this edge; the operator lists allowed origins in FAAS_CORS_ORIGINS`,
    );
    return;
  }
  cors.addResponseHeaders(req, res);
  await proxyGrpcWeb(req, res, pathname, contentType, proxy);
}

async function sendHealth(res: ServerResponse, gateway: GatewayChannel, log: Logger): Promise<void> {
  const health = await gateway.checkHealth(healthService, healthTimeoutMs);
  if (!health.serving) log.warn({ gateway: gateway.address, status: health.status, error: health.error }, 'gateway health check failed');
  sendText(res, health.serving ? 200 : 503, `gateway ${health.status}\n`);
}

function sendPageConfig(req: IncomingMessage, res: ServerResponse, config: EdgeConfig): void {
  const body = JSON.stringify({
    issuer: config.page.issuer,
    clientId: config.page.clientId,
    grpcWebUrl: config.page.grpcWebUrl ?? requestOrigin(req) ?? '',
    scopes: config.page.scopes,
  });
  res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' });
  res.end(body);
}

/** Waits until `calls` is empty or `timeoutMs` has passed. */
async function waitForCalls(calls: Set<ActiveCall>, timeoutMs: number): Promise<void> {
  if (calls.size === 0) return;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)));
  await Promise.race([Promise.all([...calls].map((call) => call.done)), timeout]);
  clearTimeout(timer);
}
