import { createReadStream } from 'node:fs';
import type { Readable } from 'node:stream';
import { describeSystemError } from './system-errors.js';
import { UsageError } from './usage-error.js';
import { errorMessage } from '../common/errors.js';

/** Largest `JobSpec.input` the gateway accepts: 1 MiB. */
export const maxInputBytes = 1024 * 1024;

/**
 * Reads the bytes for `submit --input`: the file at `source`, or `stdin` when
 * source is "-". Throws UsageError when the source cannot be read or is
 * larger than 1 MiB, and stops reading at that point.
 */
export async function readJobInput(source: string, stdin: Readable): Promise<Buffer> {
  const label = source === '-' ? 'standard input' : `"${source}"`;
  const stream = source === '-' ? stdin : createReadStream(source);
  const chunks: Buffer[] = [];
  let size = 0;

  try {
    for await (const chunk of stream) {
      const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer);
      size += bytes.length;
      if (size > maxInputBytes) {
        throw new UsageError(`--input: ${label} is larger than the 1 MiB limit`, 'submit');
      }
      chunks.push(bytes);
    }
  } catch (error) {
    if (error instanceof UsageError) throw error;
    const reason = describeSystemError((error as NodeJS.ErrnoException).code) ?? errorMessage(error);
    throw new UsageError(`--input: cannot read ${label}: ${reason}`, 'submit');
  } finally {
    if (source !== '-') stream.destroy();
  }

  return Buffer.concat(chunks);
}
