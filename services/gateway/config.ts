import { ConfigError, readAddress, readBool, readDurationMs, readInt, readString } from '../../common/config.js';
import { checkPlaintext, isLoopbackAddress, readMeshTls, type MeshTlsConfig } from '../../common/tls.js';
import { identityDefaults } from '../../common/identity-defaults.js';
import type { AuthConfig } from './auth.js';

export interface GatewayConfig {
  /** GATEWAY_ADDRESS: where the public API listens. Default 127.0.0.1:50051. */
  listenAddress: string;
  /** FAAS_SCHEDULER: scheduler address. Default 127.0.0.1:50052. */
  schedulerAddress: string;
  /** FAAS_OBSERVER: observer address, for the admin-only Scale calls. Default 127.0.0.1:50053. */
  observerAddress: string;
  /** FAAS_ALLOW_HTTP: accept http:// repository URLs, not only https://. Default false. */
  allowHttp: boolean;
  /** FAAS_MAX_TIMEOUT: largest timeout a job may ask for, in seconds. Default 3600. */
  maxTimeoutSeconds: number;
  /** GATEWAY_CALL_TIMEOUT: deadline of each unary call to the scheduler. Default 15s. */
  callTimeoutMs: number;
  /** GATEWAY_STREAM_RESUME: how long a Watch or Logs stream keeps trying to resume after losing the scheduler. Default 30s. */
  streamResumeMs: number;
  /** GATEWAY_SHUTDOWN_GRACE: how long SIGTERM waits for calls to finish. Default 10s. */
  shutdownGraceMs: number;
  /** GATEWAY_TLS_CERT and GATEWAY_TLS_KEY: PEM files for TLS on the public port; plaintext when unset. */
  publicTls?: { certFile: string; keyFile: string };
  /** FAAS_TLS_CA, FAAS_TLS_CERT, FAAS_TLS_KEY: mutual TLS towards the scheduler. */
  meshTls?: MeshTlsConfig;
  /**
   * Token checks. FAAS_OIDC_ISSUER (required), FAAS_OIDC_AUDIENCE (default
   * faas), FAAS_OIDC_ALGORITHMS (default RS256,PS256,ES256,EdDSA),
   * FAAS_CLOCK_TOLERANCE (default 30s), FAAS_JWKS_COOLDOWN (default 30s),
   * FAAS_JWKS_MAX_AGE (default 10m), FAAS_USER_ROLE (default faas-user),
   * FAAS_ADMIN_ROLE (default faas-admin).
   */
  auth: AuthConfig;
}

const asymmetricAlgorithms = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'];

function readAuth(env: Record<string, string | undefined>): AuthConfig {
  const issuer = readString(env, 'FAAS_OIDC_ISSUER', '');
  if (issuer === '') {
    throw new ConfigError('FAAS_OIDC_ISSUER is required: set it to the token issuer, such as https://keycloak.example.com/realms/faas');
  }
  let url: URL;
  try {
    url = new URL(issuer);
  } catch {
    throw new ConfigError(`FAAS_OIDC_ISSUER=${issuer} is not a URL`);
  }
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && isLoopbackAddress(`${url.hostname}:0`))) {
    throw new ConfigError(`FAAS_OIDC_ISSUER=${issuer} must use https (plain http is accepted only on loopback)`);
  }
  const algorithms = readString(env, 'FAAS_OIDC_ALGORITHMS', 'RS256,PS256,ES256,EdDSA').split(',').map((name) => name.trim());
  for (const algorithm of algorithms) {
    if (!asymmetricAlgorithms.includes(algorithm)) {
      throw new ConfigError(`FAAS_OIDC_ALGORITHMS contains ${algorithm}; use asymmetric algorithms from ${asymmetricAlgorithms.join(', ')}`);
    }
  }
  return {
    issuer,
    audience: readString(env, 'FAAS_OIDC_AUDIENCE', identityDefaults.audience),
    algorithms,
    clockToleranceSeconds: Math.round(readDurationMs(env, 'FAAS_CLOCK_TOLERANCE', 30_000, 0, 300_000) / 1000),
    jwksCooldownMs: readDurationMs(env, 'FAAS_JWKS_COOLDOWN', 30_000, 1_000, 3_600_000),
    jwksCacheMaxAgeMs: readDurationMs(env, 'FAAS_JWKS_MAX_AGE', 600_000, 1_000, 86_400_000),
    userRole: readString(env, 'FAAS_USER_ROLE', identityDefaults.userRole),
    adminRole: readString(env, 'FAAS_ADMIN_ROLE', identityDefaults.adminRole),
  };
}

export function readGatewayConfig(env: Record<string, string | undefined> = process.env): GatewayConfig {
  const listenAddress = readAddress(env, 'GATEWAY_ADDRESS', '127.0.0.1:50051');
  const schedulerAddress = readAddress(env, 'FAAS_SCHEDULER', '127.0.0.1:50052');
  const observerAddress = readAddress(env, 'FAAS_OBSERVER', '127.0.0.1:50053');
  const certFile = readString(env, 'GATEWAY_TLS_CERT', '');
  const keyFile = readString(env, 'GATEWAY_TLS_KEY', '');
  if ((certFile === '') !== (keyFile === '')) {
    throw new ConfigError('GATEWAY_TLS_CERT and GATEWAY_TLS_KEY must be set together; set both or neither');
  }
  if (certFile === '') checkPlaintext(env, 'GATEWAY_ADDRESS', listenAddress);
  const meshTls = readMeshTls(env);
  if (!meshTls) {
    checkPlaintext(env, 'FAAS_SCHEDULER', schedulerAddress);
    checkPlaintext(env, 'FAAS_OBSERVER', observerAddress);
  }
  return {
    listenAddress,
    schedulerAddress,
    observerAddress,
    publicTls: certFile === '' ? undefined : { certFile, keyFile },
    meshTls,
    auth: readAuth(env),
    allowHttp: readBool(env, 'FAAS_ALLOW_HTTP', false),
    maxTimeoutSeconds: readInt(env, 'FAAS_MAX_TIMEOUT', 3600, 1, 86_400),
    callTimeoutMs: readDurationMs(env, 'GATEWAY_CALL_TIMEOUT', 15_000, 100, 600_000),
    streamResumeMs: readDurationMs(env, 'GATEWAY_STREAM_RESUME', 30_000, 0, 600_000),
    shutdownGraceMs: readDurationMs(env, 'GATEWAY_SHUTDOWN_GRACE', 10_000, 0, 600_000),
  };
}
