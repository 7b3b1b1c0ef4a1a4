import { ConfigError, readAddress, readBool, readDurationMs, readInt, readString } from '../../common/config.js';
import { checkPlaintext, readMeshTls, type MeshTlsConfig } from '../../common/tls.js';

export interface GatewayConfig {
  /** GATEWAY_ADDRESS: where the public API listens. Default 127.0.0.1:50051. */
  listenAddress: string;
  /** FAAS_SCHEDULER: scheduler address. Default 127.0.0.1:50052. */
  schedulerAddress: string;
  /** FAAS_ALLOW_HTTP: accept http:// repository URLs, not only https://. Default false. */
  allowHttp: boolean;
  /** FAAS_MAX_TIMEOUT: largest timeout a job may ask for, in seconds. Default 3600. */
  maxTimeoutSeconds: number;
  /** FAAS_DEV_SUBJECT: identity every call acts for until token checks are added. Default "developer". */
  devSubject: string;
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
}

export function readGatewayConfig(env: Record<string, string | undefined> = process.env): GatewayConfig {
  const listenAddress = readAddress(env, 'GATEWAY_ADDRESS', '127.0.0.1:50051');
  const schedulerAddress = readAddress(env, 'FAAS_SCHEDULER', '127.0.0.1:50052');
  const certFile = readString(env, 'GATEWAY_TLS_CERT', '');
  const keyFile = readString(env, 'GATEWAY_TLS_KEY', '');
  if ((certFile === '') !== (keyFile === '')) {
    throw new ConfigError('GATEWAY_TLS_CERT and GATEWAY_TLS_KEY must be set together; set both or neither');
  }
  if (certFile === '') checkPlaintext(env, 'GATEWAY_ADDRESS', listenAddress);
  const meshTls = readMeshTls(env);
  if (!meshTls) checkPlaintext(env, 'FAAS_SCHEDULER', schedulerAddress);
  return {
    listenAddress,
    schedulerAddress,
    publicTls: certFile === '' ? undefined : { certFile, keyFile },
    meshTls,
    allowHttp: readBool(env, 'FAAS_ALLOW_HTTP', false),
    maxTimeoutSeconds: readInt(env, 'FAAS_MAX_TIMEOUT', 3600, 1, 86_400),
    devSubject: readString(env, 'FAAS_DEV_SUBJECT', 'developer'),
    callTimeoutMs: readDurationMs(env, 'GATEWAY_CALL_TIMEOUT', 15_000, 100, 600_000),
    streamResumeMs: readDurationMs(env, 'GATEWAY_STREAM_RESUME', 30_000, 0, 600_000),
    shutdownGraceMs: readDurationMs(env, 'GATEWAY_SHUTDOWN_GRACE', 10_000, 0, 600_000),
  };
}
