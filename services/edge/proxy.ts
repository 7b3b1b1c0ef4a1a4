import type { IncomingMessage, ServerResponse } from 'node:http';
import { status as GrpcStatus, type Metadata, type StatusObject } from '@grpc/grpc-js';
import type { Logger } from '../../common/logger.js';
import { decodeRequestMessage, GrpcWebError, type GrpcWebContentType } from './grpc-web.js';
import { GrpcWebResponse } from './grpc-web-response.js';
import { parseGrpcTimeoutMs, requestMetadata } from './metadata.js';
import { findForwardedMethod, notForwardedMessage, type MethodKind } from './methods.js';
import type { GatewayChannel } from './upstream.js';

export interface ProxySettings {
  grpcWeb: boolean;
  maxRequestBytes: number;
  unaryTimeoutMs: number;
}

/** A forwarded call in flight, as tracked for the edge's shutdown. */
export interface ActiveCall {
  kind: MethodKind;
  /** Ends the call with UNAVAILABLE and cancels it at the gateway. */
  abandon(): void;
  /** Settles when the call has ended, whichever way. */
  done: Promise<void>;
}

export interface ProxyContext {
  gateway: GatewayChannel;
  settings: ProxySettings;
  log: Logger;
  /** Calls in flight. Each call adds itself and removes itself when it ends. */
  activeCalls: Set<ActiveCall>;
}

/**
 * Translates one grpc-web request into a gRPC call to the gateway and
 * relays the response in the request's mode. Each failure the edge detects
 * itself ends the call with a gRPC status instead of throwing.
 */
export async function proxyGrpcWeb(
  req: IncomingMessage,
  res: ServerResponse,
  path: string,
  contentType: GrpcWebContentType,
  context: ProxyContext,
): Promise<void> {
  const response = new GrpcWebResponse(res, contentType);
  const startedAt = Date.now();
  try {
    const { message, metadata, deadline, kind } = await readCall(req, path, contentType, context.settings);
    if (response.isEnded) return;
    const code = await relay(res, response, context, path, kind, message, metadata, deadline);
    context.log.debug({ path, code, durationMs: Date.now() - startedAt }, 'grpc-web call finished');
  } catch (error) {
    if (!(error instanceof GrpcWebError)) throw error;
    context.log.debug({ path, code: error.code, message: error.message }, 'grpc-web call rejected');
    response.end(error.code, error.message);
  }
}

interface DecodedCall {
  kind: MethodKind;
  message: Buffer;
  metadata: Metadata;
  deadline: Date | undefined;
}

/** Checks the request and reads its one message. Throws GrpcWebError for a request the edge does not forward. */
async function readCall(req: IncomingMessage, path: string, contentType: GrpcWebContentType, settings: ProxySettings): Promise<DecodedCall> {
  if (!settings.grpcWeb) {
    throw new GrpcWebError(GrpcStatus.UNIMPLEMENTED, 'grpc-web translation is off on this edge (FAAS_GRPC_WEB=off); call the proxy that serves grpc-web');
  }
  if (contentType.messageFormat !== 'proto') {
    throw new GrpcWebError(
      GrpcStatus.UNIMPLEMENTED,
      `message format ${contentType.messageFormat} is not supported; send protobuf (content-type application/grpc-web+proto or application/grpc-web-text+proto)`,
    );
  }
  const method = findForwardedMethod(path);
  if (!method) throw new GrpcWebError(GrpcStatus.UNIMPLEMENTED, notForwardedMessage(path));

  const metadata = requestMetadata(req.headers);
  const timeoutMs = parseGrpcTimeoutMs(req.headers['grpc-timeout']) ?? (method.kind === 'unary' ? settings.unaryTimeoutMs : undefined);
  const body = await readBody(req, settings.maxRequestBytes);
  return {
    kind: method.kind,
    message: decodeRequestMessage(body, contentType.mode),
    metadata,
    deadline: timeoutMs === undefined ? undefined : new Date(Date.now() + timeoutMs),
  };
}

function tooLarge(limit: number): GrpcWebError {
  return new GrpcWebError(
    GrpcStatus.RESOURCE_EXHAUSTED,
    `grpc-web request body is larger than the edge's limit of ${limit} bytes; send a smaller request`,
  );
}

/** Reads the request body, up to `limit` bytes. After the response, Node reads and drops the rest of a larger body. */
function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) return Promise.reject(tooLarge(limit));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        cleanup();
        reject(tooLarge(limit));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => {
      cleanup();
      resolve(Buffer.concat(chunks));
    };
    const onClose = () => {
      cleanup();
      reject(new GrpcWebError(GrpcStatus.CANCELLED, 'the client closed the connection before sending the whole request'));
    };
    const cleanup = () => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('close', onClose);
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('close', onClose);
  });
}

/** Forwards the call and relays messages and status until it ends or the client goes away. Returns the final status code. */
function relay(
  res: ServerResponse,
  response: GrpcWebResponse,
  context: ProxyContext,
  path: string,
  kind: MethodKind,
  message: Buffer,
  metadata: Metadata,
  deadline: Date | undefined,
): Promise<GrpcStatus> {
  const call = context.gateway.call(path, message, metadata, deadline);
  let settle!: () => void;
  const active: ActiveCall = {
    kind,
    done: new Promise<void>((resolve) => (settle = resolve)),
    abandon: () => {
      response.end(GrpcStatus.UNAVAILABLE, 'the edge is shutting down; retry the call');
      call.cancel();
    },
  };
  context.activeCalls.add(active);

  return new Promise<GrpcStatus>((resolve) => {
    let status: StatusObject | undefined;
    let messagesEnded = false;
    let finished = false;
    const finish = (code: GrpcStatus) => {
      finished = true;
      context.activeCalls.delete(active);
      settle();
      resolve(code);
    };
    // The status can arrive while messages still wait in the paused stream,
    // so the trailer goes out only after the last of them.
    const endWhenDrained = () => {
      if (!status || !messagesEnded) return;
      const browserStatus = statusForBrowser(status, path, context.log);
      response.end(browserStatus.code, browserStatus.details, status.metadata);
      finish(status.code);
    };

    call.on('metadata', (initial: Metadata) => response.setInitialMetadata(initial));
    call.on('data', (chunk: Buffer) => {
      if (response.writeMessage(chunk)) return;
      call.pause();
      res.once('drain', () => call.resume());
    });
    call.on('end', () => {
      messagesEnded = true;
      endWhenDrained();
    });
    // The 'status' event carries the same failure.
    call.on('error', () => {});
    call.on('status', (received: StatusObject) => {
      status = received;
      endWhenDrained();
    });
    res.on('close', () => {
      if (finished) return;
      // The browser went away, or shutdown abandoned the call. Cancelling a
      // call that already has its status does nothing.
      call.cancel();
      finish(status?.code ?? GrpcStatus.CANCELLED);
    });
  });
}

/**
 * Returns the status to send to the browser. grpc-js makes up some statuses
 * on the edge's side of the connection: the gateway unreachable, a protocol
 * error, a deadline. Their text is internal and may contain addresses, so
 * these codes get a fixed message and the original goes to the log. Every
 * other status is the gateway's, sent unchanged.
 */
function statusForBrowser(status: StatusObject, path: string, log: Logger): { code: GrpcStatus; details: string } {
  switch (status.code) {
    case GrpcStatus.UNAVAILABLE:
      log.warn({ path, code: status.code, details: status.details }, 'gateway unavailable');
      return { code: status.code, details: 'the gateway is unavailable; retry shortly' };
    case GrpcStatus.INTERNAL:
    case GrpcStatus.UNKNOWN:
      log.error({ path, code: status.code, details: status.details }, 'grpc-web call failed');
      return { code: status.code, details: 'internal error' };
    case GrpcStatus.DEADLINE_EXCEEDED:
      log.debug({ path, details: status.details }, 'grpc-web call deadline exceeded');
      return { code: status.code, details: 'the call did not finish before its deadline (grpc-timeout, or the edge default for unary calls)' };
    default:
      return { code: status.code, details: status.details };
  }
}
