import { readAddress, readBool, readDurationMs, readInt, readString } from '../../common/config.js';

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
}

export function readGatewayConfig(env: Record<string, string | undefined> = process.env): GatewayConfig {
  return {
    listenAddress: readAddress(env, 'GATEWAY_ADDRESS', '127.0.0.1:50051'),
    schedulerAddress: readAddress(env, 'FAAS_SCHEDULER', '127.0.0.1:50052'),
    allowHttp: readBool(env, 'FAAS_ALLOW_HTTP', false),
    maxTimeoutSeconds: readInt(env, 'FAAS_MAX_TIMEOUT', 3600, 1, 86_400),
    devSubject: readString(env, 'FAAS_DEV_SUBJECT', 'developer'),
    callTimeoutMs: readDurationMs(env, 'GATEWAY_CALL_TIMEOUT', 15_000, 100, 600_000),
    streamResumeMs: readDurationMs(env, 'GATEWAY_STREAM_RESUME', 30_000, 0, 600_000),
    shutdownGraceMs: readDurationMs(env, 'GATEWAY_SHUTDOWN_GRACE', 10_000, 0, 600_000),
  };
}
