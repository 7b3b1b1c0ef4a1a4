/**
 * The grpc-web wire format: content types, length-prefixed frames, base64
 * text mode and the trailer frame. A grpc-web body is a sequence of frames,
 * each a flag byte, a 4-byte big-endian length and that many bytes. Flag
 * 0x00 carries a message, flag 0x80 the trailers as HTTP/1-style header
 * lines. In text mode the body is base64, sent as one or more padded chunks.
 */
import { status as GrpcStatus } from '@grpc/grpc-js';

export const frameHeaderBytes = 5;
export const dataFrameFlag = 0x00;
export const compressedFrameFlag = 0x01;
export const trailerFrameFlag = 0x80;

/** A failure of a grpc-web call that the edge detects itself, with a gRPC status code and a message for the caller. */
export class GrpcWebError extends Error {
  override readonly name = 'GrpcWebError';

  constructor(
    readonly code: GrpcStatus,
    message: string,
  ) {
    super(message);
  }
}

/** Body encoding: `binary` sends frames as bytes, `text` sends them base64-encoded. */
export type GrpcWebMode = 'binary' | 'text';

export interface GrpcWebContentType {
  mode: GrpcWebMode;
  /** Message encoding after the `+`: `proto` when missing. The edge forwards only `proto`. */
  messageFormat: string;
  /** The media type as the request sent it, without parameters, echoed in the response. */
  mediaType: string;
}

/** Parses a grpc-web `content-type`, or returns undefined for any other media type. */
export function parseGrpcWebContentType(header: string | undefined): GrpcWebContentType | undefined {
  if (header === undefined) return undefined;
  const mediaType = header.split(';')[0]!.trim().toLowerCase();
  const match = /^application\/grpc-web(-text)?(?:\+([a-z0-9.-]+))?$/.exec(mediaType);
  if (!match) return undefined;
  return { mode: match[1] ? 'text' : 'binary', messageFormat: match[2] ?? 'proto', mediaType };
}

/** Returns the frame that carries `message`, with flag 0x00. */
export function encodeDataFrame(message: Uint8Array): Buffer {
  return encodeFrame(dataFrameFlag, message);
}

/**
 * Returns the trailer frame (flag 0x80) for `trailers`, a list of header
 * names and values. Names are lowercase, and values must be printable ASCII.
 */
export function encodeTrailerFrame(trailers: Array<[string, string]>): Buffer {
  const block = trailers.map(([name, value]) => `${name}: ${value}\r\n`).join('');
  return encodeFrame(trailerFrameFlag, Buffer.from(block, 'latin1'));
}

function encodeFrame(flag: number, payload: Uint8Array): Buffer {
  const frame = Buffer.allocUnsafe(frameHeaderBytes + payload.length);
  frame.writeUInt8(flag, 0);
  frame.writeUInt32BE(payload.length, 1);
  frame.set(payload, frameHeaderBytes);
  return frame;
}

/**
 * Returns the bytes to write for `frame` in `mode`. Text mode encodes each
 * frame as its own padded base64 chunk, so a reader can decode every frame
 * as soon as it arrives instead of waiting for the next one.
 */
export function encodeForMode(frame: Buffer, mode: GrpcWebMode): Buffer {
  return mode === 'text' ? Buffer.from(frame.toString('base64'), 'latin1') : frame;
}

/** A frame of a request body. */
export interface Frame {
  flag: number;
  payload: Buffer;
}

/** Splits a binary grpc-web body into frames. Throws INVALID_ARGUMENT when it does not end on a frame boundary. */
export function decodeFrames(body: Buffer): Frame[] {
  const frames: Frame[] = [];
  let offset = 0;
  while (offset < body.length) {
    if (body.length - offset < frameHeaderBytes) {
      throw new GrpcWebError(
        GrpcStatus.INVALID_ARGUMENT,
        `grpc-web request body ends inside a frame header: ${body.length - offset} bytes left at offset ${offset}, a header has ${frameHeaderBytes}`,
      );
    }
    const flag = body.readUInt8(offset);
    const length = body.readUInt32BE(offset + 1);
    const start = offset + frameHeaderBytes;
    if (body.length - start < length) {
      throw new GrpcWebError(
        GrpcStatus.INVALID_ARGUMENT,
        `grpc-web request body ends inside a frame: the frame at offset ${offset} declares ${length} bytes, ${body.length - start} follow`,
      );
    }
    frames.push({ flag, payload: body.subarray(start, start + length) });
    offset = start + length;
  }
  return frames;
}

const base64Chunk = /[A-Za-z0-9+/]*={0,2}/y;

/**
 * Decodes a grpc-web-text body: base64, possibly several padded chunks
 * concatenated, as a client that encodes each write separately sends.
 * Whitespace is ignored. Throws INVALID_ARGUMENT for anything else.
 */
export function decodeBase64Body(body: Buffer): Buffer {
  const text = body.toString('latin1').replace(/[\t\n\r ]/g, '');
  const parts: Buffer[] = [];
  base64Chunk.lastIndex = 0;
  while (base64Chunk.lastIndex < text.length) {
    const start = base64Chunk.lastIndex;
    const chunk = base64Chunk.exec(text)?.[0] ?? '';
    if (chunk === '') {
      throw new GrpcWebError(
        GrpcStatus.INVALID_ARGUMENT,
        `grpc-web-text request body is not base64: character ${JSON.stringify(text[start])} at offset ${start}`,
      );
    }
    // A padded chunk is whole groups of 4 characters. An unpadded chunk ends
    // the body, since any character after it is invalid, and its last group
    // may have 2 or 3 characters.
    const invalidLength = chunk.endsWith('=') ? chunk.length % 4 !== 0 : chunk.length % 4 === 1;
    if (invalidLength) {
      throw new GrpcWebError(
        GrpcStatus.INVALID_ARGUMENT,
        `grpc-web-text request body is not base64: the chunk at offset ${start} has ${chunk.length} characters, which is not a multiple of 4`,
      );
    }
    parts.push(Buffer.from(chunk, 'base64'));
  }
  return Buffer.concat(parts);
}

/**
 * Returns the one message of a unary or server-streaming request body.
 * Throws INVALID_ARGUMENT for malformed framing, a trailer frame or a
 * message count other than one, and UNIMPLEMENTED for a compressed message.
 */
export function decodeRequestMessage(body: Buffer, mode: GrpcWebMode): Buffer {
  const frames = decodeFrames(mode === 'text' ? decodeBase64Body(body) : body);
  for (const frame of frames) {
    if (frame.flag === compressedFrameFlag) {
      throw new GrpcWebError(
        GrpcStatus.UNIMPLEMENTED,
        'grpc-web request message is compressed (frame flag 0x01); the edge accepts only uncompressed messages',
      );
    }
    if (frame.flag === trailerFrameFlag) {
      throw new GrpcWebError(GrpcStatus.INVALID_ARGUMENT, 'grpc-web request contains a trailer frame (flag 0x80); requests carry only message frames');
    }
    if (frame.flag !== dataFrameFlag) {
      throw new GrpcWebError(
        GrpcStatus.INVALID_ARGUMENT,
        `grpc-web request contains a frame with unknown flag 0x${frame.flag.toString(16).padStart(2, '0')}; message frames have flag 0x00`,
      );
    }
  }
  if (frames.length !== 1) {
    throw new GrpcWebError(
      GrpcStatus.INVALID_ARGUMENT,
      `grpc-web request contains ${frames.length} messages; unary and server-streaming methods take exactly one`,
    );
  }
  return frames[0]!.payload;
}

/**
 * Percent-encodes a status message for `grpc-message`, as the gRPC HTTP/2
 * protocol specifies: UTF-8 bytes outside printable ASCII, and `%` itself,
 * become `%XX`. Messages in plain ASCII pass unchanged.
 */
export function encodeGrpcMessage(message: string): string {
  let encoded = '';
  for (const byte of Buffer.from(message, 'utf8')) {
    encoded += byte >= 0x20 && byte <= 0x7e && byte !== 0x25 ? String.fromCharCode(byte) : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return encoded;
}
