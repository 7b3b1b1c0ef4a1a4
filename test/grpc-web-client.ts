/**
 * A small grpc-web client for tests, written from the protocol rather than
 * with the edge's own code, so the two can disagree. It sends one request
 * message with Node's fetch and reads the response frame by frame.
 */
import assert from 'node:assert/strict';

export type Mode = 'binary' | 'text';

export interface CallOptions {
  mode?: Mode;
  token?: string;
  /** More request headers, such as origin or grpc-timeout. */
  headers?: Record<string, string>;
  /** Sent as the body instead of a frame of the request message, to test malformed requests. */
  rawBody?: Buffer | string;
  signal?: AbortSignal;
}

export interface Frame {
  flag: number;
  payload: Buffer;
}

/** A response read to its end. */
export interface Reply {
  response: Response;
  messages: Buffer[];
  /** From the trailer frame, or from the HTTP headers of a trailers-only response. */
  trailers: Record<string, string>;
  /** True when the status came in the HTTP headers with an empty body. */
  trailersOnly: boolean;
  code: number;
  message: string;
}

const contentTypes: Record<Mode, string> = {
  binary: 'application/grpc-web+proto',
  text: 'application/grpc-web-text+proto',
};

export function frame(flag: number, payload: Uint8Array): Buffer {
  const header = Buffer.alloc(5);
  header.writeUInt8(flag, 0);
  header.writeUInt32BE(payload.length, 1);
  return Buffer.concat([header, payload]);
}

/** Sends a grpc-web request and returns the response, with its body not yet read. */
export async function send(baseUrl: string, path: string, message: Uint8Array, options: CallOptions = {}): Promise<Response> {
  const mode = options.mode ?? 'binary';
  const headers: Record<string, string> = { 'content-type': contentTypes[mode], 'x-grpc-web': '1', ...options.headers };
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  const framed = frame(0, message);
  const body = options.rawBody ?? (mode === 'text' ? framed.toString('base64') : framed);
  return await fetch(`${baseUrl}${path}`, { method: 'POST', headers, body, signal: options.signal });
}

/** Reads frames from a response body as they arrive. */
export class FrameReader {
  private readonly reader: ReadableStreamDefaultReader<Uint8Array>;
  private bytes = Buffer.alloc(0);
  private text = '';
  private done = false;

  constructor(
    response: Response,
    private readonly mode: Mode,
  ) {
    assert.ok(response.body, 'the response has no body');
    this.reader = response.body.getReader();
  }

  /** Returns the next whole frame, or undefined at the end of the body. Fails on a body that ends inside a frame. */
  async next(): Promise<Frame | undefined> {
    for (;;) {
      if (this.bytes.length >= 5) {
        const length = this.bytes.readUInt32BE(1);
        if (this.bytes.length >= 5 + length) {
          const next = { flag: this.bytes[0]!, payload: this.bytes.subarray(5, 5 + length) };
          this.bytes = this.bytes.subarray(5 + length);
          return next;
        }
      }
      if (this.done) {
        assert.equal(this.bytes.length, 0, `the body ends inside a frame (${this.bytes.length} bytes left)`);
        assert.equal(this.text.length, 0, `the base64 body ends mid-group (${JSON.stringify(this.text)} left)`);
        return undefined;
      }
      const { value, done } = await this.reader.read();
      if (done) this.done = true;
      if (value) this.append(Buffer.from(value));
    }
  }

  private append(chunk: Buffer): void {
    if (this.mode === 'binary') {
      this.bytes = Buffer.concat([this.bytes, chunk]);
      return;
    }
    // Decode whole 4-character groups. A padded group may sit anywhere,
    // since a writer may pad each chunk.
    this.text += chunk.toString('latin1');
    const whole = this.text.length - (this.text.length % 4);
    const groups = this.text.slice(0, whole);
    this.text = this.text.slice(whole);
    const decoded = (groups.match(/.{4}/g) ?? []).map((group) => Buffer.from(group, 'base64'));
    this.bytes = Buffer.concat([this.bytes, ...decoded]);
  }

  async cancel(): Promise<void> {
    await this.reader.cancel();
  }
}

export function parseTrailerBlock(payload: Buffer): Record<string, string> {
  const trailers: Record<string, string> = {};
  for (const line of payload.toString('latin1').split('\r\n')) {
    if (line === '') continue;
    const colon = line.indexOf(':');
    assert.ok(colon > 0, `trailer line ${JSON.stringify(line)} has no colon`);
    trailers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  return trailers;
}

/** Reads the rest of a response: its data frames and its status. */
export async function readReply(response: Response, mode: Mode, reader = new FrameReader(response, mode)): Promise<Reply> {
  const messages: Buffer[] = [];
  let trailers: Record<string, string> | undefined;
  for (let next = await reader.next(); next; next = await reader.next()) {
    assert.equal(trailers, undefined, 'a frame follows the trailer frame');
    if (next.flag === 0x80) trailers = parseTrailerBlock(next.payload);
    else {
      assert.equal(next.flag, 0, `unexpected frame flag ${next.flag}`);
      messages.push(Buffer.from(next.payload));
    }
  }
  const trailersOnly = trailers === undefined && messages.length === 0 && response.headers.has('grpc-status');
  if (trailersOnly) {
    trailers = {};
    response.headers.forEach((value, name) => (trailers![name] = value));
  }
  assert.ok(trailers, 'the response has neither a trailer frame nor a grpc-status header');
  assert.ok(trailers['grpc-status'] !== undefined, `the trailers have no grpc-status: ${JSON.stringify(trailers)}`);
  return {
    response,
    messages,
    trailers,
    trailersOnly,
    code: Number(trailers['grpc-status']),
    message: decodeURIComponent(trailers['grpc-message'] ?? ''),
  };
}

/** Calls a unary or server-streaming method and reads the whole reply. */
export async function call(baseUrl: string, path: string, message: Uint8Array, options: CallOptions = {}): Promise<Reply> {
  const response = await send(baseUrl, path, message, options);
  return await readReply(response, options.mode ?? 'binary');
}
