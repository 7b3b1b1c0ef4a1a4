/**
 * Conversion between the HTTP/1.1 headers of grpc-web and gRPC metadata.
 * Request headers become call metadata only when they are application
 * metadata: transport, browser, gRPC-reserved and identity headers stay
 * behind, so a browser cannot pose as the gateway or a trusted proxy.
 */
import { Metadata, status as GrpcStatus, type MetadataValue } from '@grpc/grpc-js';
import type { IncomingHttpHeaders } from 'node:http';
import { GrpcWebError } from './grpc-web.js';

/** Hop-by-hop headers (RFC 9110 section 7.6.1) and the HTTP/1.1 framing headers. */
const hopByHopHeaders = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'host',
  'content-length',
  'expect',
]);

/** Headers a browser or the grpc-web protocol sets, which mean nothing to the gateway. */
const browserHeaders = new Set([
  'accept',
  'accept-charset',
  'accept-encoding',
  'accept-language',
  'cache-control',
  'content-type',
  'cookie',
  'dnt',
  'origin',
  'pragma',
  'priority',
  'referer',
  'user-agent',
  'x-grpc-web',
]);

/**
 * Headers that name the caller or the client's address. The gateway derives
 * identity from the bearer token alone, and the scheduler trusts the
 * `x-faas-caller-*` metadata that the gateway sets (subject, admin flag and
 * name), so a client must never be able to send any of these.
 */
const identityHeaders = new Set(['forwarded', 'remote-user', 'x-real-ip', 'x-remote-user', 'x-user', 'x-userinfo']);

const droppedPrefixes = [
  // Reserved by gRPC. The edge reads grpc-timeout separately, as the call's deadline.
  'grpc-',
  'sec-',
  'access-control-',
  'x-faas-caller-',
  // Claims that a proxy verified, such as Envoy's x-jwt-payload.
  'x-jwt-',
  'x-auth-request-',
  'x-forwarded-',
  'x-envoy-',
];

const metadataKey = /^[0-9a-z_.-]+$/;
const printableAscii = /^[\x20-\x7e]*$/;
const base64Value = /^[A-Za-z0-9+/]*={0,2}$/;

/** Returns true when a request header never reaches the gateway. */
export function isDroppedRequestHeader(name: string, connectionTokens: ReadonlySet<string> = new Set()): boolean {
  return (
    hopByHopHeaders.has(name) ||
    connectionTokens.has(name) ||
    browserHeaders.has(name) ||
    identityHeaders.has(name) ||
    name.startsWith(':') ||
    droppedPrefixes.some((prefix) => name.startsWith(prefix))
  );
}

/**
 * Builds the metadata of the gateway call from the request headers: the
 * `authorization` header and any other application metadata. A `-bin`
 * header is base64 (comma-separated values allowed). Throws INVALID_ARGUMENT
 * for a header that gRPC metadata cannot carry.
 */
export function requestMetadata(headers: IncomingHttpHeaders): Metadata {
  const connectionTokens = new Set(
    String(headers.connection ?? '')
      .split(',')
      .map((token) => token.trim().toLowerCase())
      .filter((token) => token !== ''),
  );
  const metadata = new Metadata();
  for (const [name, raw] of Object.entries(headers)) {
    if (raw === undefined || isDroppedRequestHeader(name, connectionTokens)) continue;
    if (!metadataKey.test(name)) {
      throw new GrpcWebError(
        GrpcStatus.INVALID_ARGUMENT,
        `request header ${name} is not a valid gRPC metadata key: use lowercase letters, digits, "_", "." and "-"`,
      );
    }
    const values = Array.isArray(raw) ? raw : [raw];
    for (const value of values) {
      if (name.endsWith('-bin')) {
        for (const encoded of value.split(',').map((item) => item.trim())) metadata.add(name, decodeBinaryValue(name, encoded));
      } else if (printableAscii.test(value)) {
        metadata.add(name, value);
      } else {
        throw new GrpcWebError(
          GrpcStatus.INVALID_ARGUMENT,
          `request header ${name} has characters outside printable ASCII; send binary values base64-encoded in a header whose name ends with -bin`,
        );
      }
    }
  }
  return metadata;
}

function decodeBinaryValue(name: string, encoded: string): Buffer {
  if (!base64Value.test(encoded) || encoded.length % 4 === 1) {
    throw new GrpcWebError(GrpcStatus.INVALID_ARGUMENT, `request header ${name} is not base64, which headers ending with -bin must be`);
  }
  return Buffer.from(encoded, 'base64');
}

const grpcTimeoutUnitsMs: Record<string, number> = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 0.001, n: 0.000_001 };

/**
 * Parses a `grpc-timeout` header (1 to 8 digits and a unit: H, M, S, m, u
 * or n) into milliseconds. Returns undefined when the header is missing, and
 * throws INVALID_ARGUMENT when it is malformed.
 */
export function parseGrpcTimeoutMs(header: string | string[] | undefined): number | undefined {
  if (header === undefined) return undefined;
  const value = Array.isArray(header) ? header.join(',') : header;
  const match = /^(\d{1,8})([HMSmun])$/.exec(value.trim());
  if (!match) {
    throw new GrpcWebError(
      GrpcStatus.INVALID_ARGUMENT,
      `grpc-timeout ${JSON.stringify(value)} is invalid: expected 1 to 8 digits and a unit H, M, S, m, u or n, such as 1500m`,
    );
  }
  return Number(match[1]) * grpcTimeoutUnitsMs[match[2]!]!;
}

/** Response metadata that the edge writes itself or that only has meaning on the gateway's HTTP/2 connection. */
const reservedResponseKeys = new Set([
  'content-type',
  'content-length',
  'date',
  'grpc-accept-encoding',
  'grpc-encoding',
  'grpc-message',
  'grpc-status',
  'grpc-timeout',
  'te',
  'user-agent',
]);

/**
 * Returns `metadata` as header lines for a grpc-web response or trailer
 * frame, with binary values base64-encoded and repeated values joined by
 * commas.
 */
export function metadataHeaderPairs(metadata: Metadata | undefined): Array<[string, string]> {
  if (!metadata) return [];
  const pairs: Array<[string, string]> = [];
  for (const [key, values] of Object.entries(metadata.toJSON() as Record<string, MetadataValue[]>)) {
    if (reservedResponseKeys.has(key) || hopByHopHeaders.has(key) || key.startsWith(':')) continue;
    const encoded = values.map((value) => (Buffer.isBuffer(value) ? value.toString('base64') : value));
    pairs.push([key, encoded.join(', ')]);
  }
  return pairs;
}
