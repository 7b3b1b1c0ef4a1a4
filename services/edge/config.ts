import { resolve } from 'node:path';
import { ConfigError, readAddress, readBool, readBytes, readDurationMs, readString } from '../../common/config.js';
import { identityDefaults } from '../../common/identity-defaults.js';
import { checkPlaintext, readMeshTls, type MeshTlsConfig } from '../../common/tls.js';

/** Settings the page reads from `GET /config.json`. */
export interface PageSettings {
  /** FAAS_OIDC_ISSUER (required): the public issuer URL the browser signs in with. */
  issuer: string;
  /** FAAS_WEB_CLIENT_ID: OpenID Connect client of the page. Default faas-web. */
  clientId: string;
  /** FAAS_GRPC_WEB_URL: base URL of grpc-web calls. Default unset, which sends the origin the page was loaded from. */
  grpcWebUrl?: string;
  /** FAAS_WEB_SCOPES: space-separated scopes the page requests. Default "openid profile email". */
  scopes: string;
}

export interface EdgeConfig {
  /** FAAS_EDGE_ADDRESS: where the HTTP/1.1 server listens. Default 127.0.0.1:8080. Port 0 picks a free port. */
  listenAddress: string;
  /** FAAS_GATEWAY: the gateway that grpc-web calls and health checks go to. Default 127.0.0.1:50051. */
  gatewayAddress: string;
  /** FAAS_GRPC_WEB: translate grpc-web (on), or serve only the page (off, when Envoy translates). Default on. */
  grpcWeb: boolean;
  /** FAAS_WEB_ROOT: folder of the built page, relative to the working folder. Default web/dist. */
  webRoot: string;
  /** FAAS_CORS_ORIGINS: comma-separated origins, other than the edge's own, that may call grpc-web. Default none. */
  corsOrigins: string[];
  /** FAAS_EDGE_MAX_REQUEST_BYTES: largest grpc-web request body, as sent (base64 included). Default 4MiB. */
  maxRequestBytes: number;
  /** FAAS_EDGE_UNARY_TIMEOUT: deadline of a unary call whose request has no grpc-timeout. Default 30s. */
  unaryTimeoutMs: number;
  /** FAAS_EDGE_SHUTDOWN_GRACE: how long a stop waits for unary calls in flight. Default 10s. */
  shutdownGraceMs: number;
  /** FAAS_TLS_CA, FAAS_TLS_CERT, FAAS_TLS_KEY: TLS towards the gateway, with this client certificate. Plaintext when unset. */
  meshTls?: MeshTlsConfig;
  page: PageSettings;
}

type Env = Record<string, string | undefined>;

export const defaultWebScopes = 'openid profile email';

export function readEdgeConfig(env: Env = process.env): EdgeConfig {
  const gatewayAddress = readAddress(env, 'FAAS_GATEWAY', '127.0.0.1:50051');
  const grpcWeb = readBool(env, 'FAAS_GRPC_WEB', true);
  const meshTls = readMeshTls(env);
  // Only grpc-web calls carry tokens, so the health check alone may use a
  // plaintext connection to a remote gateway.
  if (grpcWeb && !meshTls) checkPlaintext(env, 'FAAS_GATEWAY', gatewayAddress);
  return {
    listenAddress: readAddress(env, 'FAAS_EDGE_ADDRESS', '127.0.0.1:8080'),
    gatewayAddress,
    grpcWeb,
    webRoot: resolve(readString(env, 'FAAS_WEB_ROOT', 'web/dist')),
    corsOrigins: readOrigins(env, 'FAAS_CORS_ORIGINS'),
    maxRequestBytes: readBytes(env, 'FAAS_EDGE_MAX_REQUEST_BYTES', 4 * 1024 * 1024, 1024, 64 * 1024 * 1024),
    unaryTimeoutMs: readDurationMs(env, 'FAAS_EDGE_UNARY_TIMEOUT', 30_000, 100, 600_000),
    shutdownGraceMs: readDurationMs(env, 'FAAS_EDGE_SHUTDOWN_GRACE', 10_000, 0, 600_000),
    meshTls,
    page: {
      issuer: readIssuer(env),
      clientId: readString(env, 'FAAS_WEB_CLIENT_ID', identityDefaults.browserClientId),
      grpcWebUrl: readOptionalUrl(env, 'FAAS_GRPC_WEB_URL'),
      scopes: readString(env, 'FAAS_WEB_SCOPES', defaultWebScopes),
    },
  };
}

function readIssuer(env: Env): string {
  const issuer = readOptionalUrl(env, 'FAAS_OIDC_ISSUER');
  if (issuer === undefined) {
    throw new ConfigError(
      'FAAS_OIDC_ISSUER is required: set it to the issuer the browser signs in with, such as https://keycloak.example.com/realms/faas',
    );
  }
  return issuer;
}

function readOptionalUrl(env: Env, name: string): string | undefined {
  const raw = readString(env, name, '');
  if (raw === '') return undefined;
  const url = URL.parse(raw);
  if (url === null || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
    throw new ConfigError(`${name}=${raw} is invalid: expected an http or https URL`);
  }
  return raw;
}

/** Reads a comma-separated list of origins and returns each in its serialized form (`scheme://host[:port]`). */
function readOrigins(env: Env, name: string): string[] {
  const raw = readString(env, name, '');
  const origins: string[] = [];
  for (const entry of raw.split(',').map((item) => item.trim()).filter((item) => item !== '')) {
    const url = URL.parse(entry);
    const isOrigin =
      url !== null &&
      (url.protocol === 'http:' || url.protocol === 'https:') &&
      url.pathname === '/' &&
      url.search === '' &&
      url.hash === '' &&
      url.username === '' &&
      !entry.endsWith('/');
    if (!isOrigin) {
      throw new ConfigError(
        `${name} contains ${entry}, which is not an origin: expected scheme, host and optional port, such as https://faas.example.com`,
      );
    }
    origins.push(url.origin);
  }
  return origins;
}
