import { readFileSync } from 'node:fs';
import { ChannelCredentials, ServerCredentials, credentials } from '@grpc/grpc-js';
import { ConfigError, readBool, readString } from './config.js';

/**
 * Mutual TLS between the platform's services: every service presents a
 * certificate signed by the project CA, and servers require one from each
 * client, so a process without a certificate cannot call the scheduler or
 * register as a worker.
 */
export interface MeshTlsConfig {
  /** FAAS_TLS_CA: PEM file of the CA that signs the services' certificates. */
  caFile: string;
  /** FAAS_TLS_CERT: PEM certificate of this service. */
  certFile: string;
  /** FAAS_TLS_KEY: PEM private key of this service. */
  keyFile: string;
}

type Env = Record<string, string | undefined>;

/**
 * Reads the mesh TLS files. All three variables or none: none means
 * plaintext, which only a loopback address or FAAS_ALLOW_PLAINTEXT=true
 * permits (see `checkPlaintext`).
 */
export function readMeshTls(env: Env): MeshTlsConfig | undefined {
  const caFile = readString(env, 'FAAS_TLS_CA', '');
  const certFile = readString(env, 'FAAS_TLS_CERT', '');
  const keyFile = readString(env, 'FAAS_TLS_KEY', '');
  const given = [caFile, certFile, keyFile].filter((value) => value !== '').length;
  if (given === 0) return undefined;
  if (given !== 3) {
    throw new ConfigError('FAAS_TLS_CA, FAAS_TLS_CERT and FAAS_TLS_KEY must be set together; set all three or none');
  }
  return { caFile, certFile, keyFile };
}

/** Throws unless plaintext is allowed for `address`: a loopback host, or an explicit opt-in. */
export function checkPlaintext(env: Env, variable: string, address: string): void {
  if (isLoopbackAddress(address) || readBool(env, 'FAAS_ALLOW_PLAINTEXT', false)) return;
  throw new ConfigError(
    `${variable}=${address} is not a loopback address, so plaintext is not allowed: set FAAS_TLS_CA, FAAS_TLS_CERT and FAAS_TLS_KEY, or FAAS_ALLOW_PLAINTEXT=true`,
  );
}

export function isLoopbackAddress(address: string): boolean {
  const host = address.slice(0, address.lastIndexOf(':')).replace(/^\[|\]$/g, '');
  return host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

function read(file: string, variable: string): Buffer {
  try {
    return readFileSync(file);
  } catch (error) {
    throw new ConfigError(`${variable}=${file} cannot be read: ${(error as Error).message}`);
  }
}

export function meshServerCredentials(tls: MeshTlsConfig | undefined): ServerCredentials {
  if (!tls) return ServerCredentials.createInsecure();
  return ServerCredentials.createSsl(
    read(tls.caFile, 'FAAS_TLS_CA'),
    [{ cert_chain: read(tls.certFile, 'FAAS_TLS_CERT'), private_key: read(tls.keyFile, 'FAAS_TLS_KEY') }],
    true,
  );
}

export function meshChannelCredentials(tls: MeshTlsConfig | undefined): ChannelCredentials {
  if (!tls) return credentials.createInsecure();
  return credentials.createSsl(
    read(tls.caFile, 'FAAS_TLS_CA'),
    read(tls.keyFile, 'FAAS_TLS_KEY'),
    read(tls.certFile, 'FAAS_TLS_CERT'),
  );
}

/**
 * grpc-js waits up to 120 s between two tries to reconnect a channel, so a
 * service came back long before its callers noticed: a trial saw workers
 * reconnect to a restarted scheduler 15 to 45 s late. Mesh peers are few and
 * close, so a try every few seconds at most costs nothing.
 */
const meshReconnectOptions = { 'grpc.initial_reconnect_backoff_ms': 250, 'grpc.max_reconnect_backoff_ms': 3_000 };

/**
 * Channel options for a mesh client: reconnect tries at most 3 s apart,
 * and for a dial to 127.0.0.1 with TLS, the name the development
 * certificates carry. They name `localhost`, and TLS forbids an IP address
 * as server name.
 */
export function meshChannelOptions(tls: MeshTlsConfig | undefined, address: string): Record<string, string | number> {
  if (!tls || !/^127\./.test(address)) return { ...meshReconnectOptions };
  return { ...meshReconnectOptions, 'grpc.ssl_target_name_override': 'localhost', 'grpc.default_authority': 'localhost' };
}
