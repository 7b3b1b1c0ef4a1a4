import type { LogStream } from '../../gen/faas/v1/job.js';

/** Output of an attempt from `offset` on, in the order the job wrote it. */
export interface OutputChunk {
  offset: number;
  stream: LogStream;
  data: Buffer;
}

/**
 * The latest output of one attempt, at least `capacityBytes` of it, with
 * each chunk's offset in the attempt's output. When a worker reconnects, the
 * scheduler that takes its job over names the offset up to which it stored
 * the output, and the worker sends the rest again from here.
 */
export class OutputBacklog {
  private readonly chunks: OutputChunk[] = [];
  private keptBytes = 0;
  /** Offset after the last byte the job wrote. */
  end = 0;

  constructor(private readonly capacityBytes: number) {}

  append(stream: LogStream, data: Buffer): void {
    if (data.length === 0) return;
    this.chunks.push({ offset: this.end, stream, data });
    this.end += data.length;
    this.keptBytes += data.length;
    // The oldest chunks go while the rest still contains the capacity.
    while (this.chunks.length > 1 && this.keptBytes - this.chunks[0].data.length >= this.capacityBytes) {
      this.keptBytes -= this.chunks.shift()!.data.length;
    }
  }

  /** Offset of the oldest byte kept. */
  get start(): number {
    return this.chunks[0]?.offset ?? this.end;
  }

  /**
   * Returns the output from `offset` to the end, and how many bytes after
   * `offset` are no longer kept. An offset past the end gives nothing.
   */
  since(offset: number): { chunks: OutputChunk[]; lostBytes: number } {
    const lostBytes = Math.max(0, Math.min(this.start, this.end) - offset);
    const chunks: OutputChunk[] = [];
    for (const chunk of this.chunks) {
      const chunkEnd = chunk.offset + chunk.data.length;
      if (chunkEnd <= offset) continue;
      const skip = Math.max(0, offset - chunk.offset);
      chunks.push({ offset: chunk.offset + skip, stream: chunk.stream, data: chunk.data.subarray(skip) });
    }
    return { chunks, lostBytes };
  }
}
