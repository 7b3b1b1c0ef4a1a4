import type { IncomingMessage, ServerResponse } from 'node:http';

export const corsAllowedHeaders = 'content-type, x-grpc-web, x-user-agent, grpc-timeout, authorization';
export const corsExposedHeaders = 'grpc-status, grpc-message, grpc-status-details-bin';
const corsAllowedMethods = 'POST, OPTIONS';
const preflightMaxAgeSeconds = 7200;

/**
 * Classification of a request by its Origin header: `none` has no Origin
 * header (not a browser, or a same-origin GET), `same-origin` comes from a
 * page of this edge, `allowed` from an origin in FAAS_CORS_ORIGINS, and
 * `refused` from any other origin.
 */
export type OriginVerdict = 'none' | 'same-origin' | 'allowed' | 'refused';

/** Cross-origin access to grpc-web for the origins in FAAS_CORS_ORIGINS. */
export class CorsPolicy {
  private readonly allowedOrigins: ReadonlySet<string>;

  constructor(allowedOrigins: readonly string[]) {
    this.allowedOrigins = new Set(allowedOrigins);
  }

  judge(req: IncomingMessage): OriginVerdict {
    const origin = req.headers.origin;
    if (origin === undefined) return 'none';
    if (origin === requestOrigin(req)) return 'same-origin';
    return this.allowedOrigins.has(origin) ? 'allowed' : 'refused';
  }

  /** Adds the CORS headers of an actual (not preflight) response when the origin is allowed. */
  addResponseHeaders(req: IncomingMessage, res: ServerResponse): void {
    res.setHeader('vary', 'Origin');
    if (this.judge(req) !== 'allowed') return;
    res.setHeader('access-control-allow-origin', req.headers.origin!);
    res.setHeader('access-control-expose-headers', corsExposedHeaders);
  }

  /**
   * Responds to a preflight OPTIONS request: 204 with the allowed methods and
   * headers for an allowed origin, 403 with no CORS headers otherwise.
   */
  respondToPreflight(req: IncomingMessage, res: ServerResponse): void {
    res.setHeader('vary', 'Origin');
    const verdict = this.judge(req);
    if (verdict !== 'allowed' && verdict !== 'same-origin') {
      res.writeHead(403, { 'content-type': 'text/plain; charset=utf-8' });
      res.end('Cross-origin requests from this origin are not allowed; the operator lists allowed origins in FAAS_CORS_ORIGINS.\n');
      return;
    }
    res.writeHead(204, {
      'access-control-allow-origin': req.headers.origin!,
      'access-control-allow-methods': corsAllowedMethods,
      'access-control-allow-headers': corsAllowedHeaders,
      'access-control-max-age': String(preflightMaxAgeSeconds),
    });
    res.end();
  }
}

/**
 * Returns this edge's origin as the browser addressed it: the Host header,
 * with the scheme from X-Forwarded-Proto when a TLS proxy in front sets it,
 * else http. Returns undefined when the Host header is missing or malformed.
 */
export function requestOrigin(req: IncomingMessage): string | undefined {
  const host = req.headers.host;
  if (host === undefined || !/^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+)(:\d{1,5})?$/.test(host)) return undefined;
  const forwarded = String(req.headers['x-forwarded-proto'] ?? '').split(',')[0]!.trim().toLowerCase();
  const scheme = forwarded === 'https' ? 'https' : 'http';
  return URL.parse(`${scheme}://${host}`)?.origin;
}
