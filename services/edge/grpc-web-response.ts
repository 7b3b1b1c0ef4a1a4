import type { ServerResponse } from 'node:http';
import type { Metadata, status as GrpcStatus } from '@grpc/grpc-js';
import { encodeDataFrame, encodeForMode, encodeGrpcMessage, encodeTrailerFrame, type GrpcWebContentType } from './grpc-web.js';
import { metadataHeaderPairs } from './metadata.js';

/**
 * Writes one grpc-web response. The HTTP headers wait for the first
 * message, so a call that fails before any message gets a trailers-only
 * response: status and metadata in the HTTP headers and an empty body.
 * Otherwise each message goes out as its own data frame as soon as it is
 * written, and a trailer frame ends the body.
 */
export class GrpcWebResponse {
  private initialMetadata: Metadata | undefined;
  private headersWritten = false;
  private ended = false;

  constructor(
    private readonly res: ServerResponse,
    private readonly contentType: GrpcWebContentType,
  ) {}

  /** True once the status was written, or the client went away. */
  get isEnded(): boolean {
    return this.ended || this.res.destroyed;
  }

  /** Keeps the gateway's response headers, sent with the first message or the status. */
  setInitialMetadata(metadata: Metadata): void {
    this.initialMetadata = metadata;
  }

  /**
   * Writes `message` as a data frame. Returns false when the connection's
   * buffer is full: the caller should stop reading until the response emits
   * 'drain'.
   */
  writeMessage(message: Buffer): boolean {
    if (this.isEnded) return true;
    this.writeHeaders([]);
    return this.res.write(encodeForMode(encodeDataFrame(message), this.contentType.mode));
  }

  /** Ends the response with a gRPC status and trailing metadata. */
  end(code: GrpcStatus, message: string, trailers?: Metadata): void {
    if (this.isEnded) return;
    this.ended = true;
    const statusPairs: Array<[string, string]> = [['grpc-status', String(code)]];
    if (message !== '') statusPairs.push(['grpc-message', encodeGrpcMessage(message)]);
    statusPairs.push(...metadataHeaderPairs(trailers));
    if (!this.headersWritten) {
      this.writeHeaders(statusPairs);
      this.res.end();
      return;
    }
    this.res.end(encodeForMode(encodeTrailerFrame(statusPairs), this.contentType.mode));
  }

  private writeHeaders(extra: Array<[string, string]>): void {
    if (this.headersWritten) return;
    this.headersWritten = true;
    this.res.statusCode = 200;
    this.res.setHeader('content-type', this.contentType.mediaType);
    for (const [name, value] of [...metadataHeaderPairs(this.initialMetadata), ...extra]) this.res.setHeader(name, value);
  }
}
