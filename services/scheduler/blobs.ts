import type { KV } from '@nats-io/kv';
import type { ObjectStore } from '@nats-io/obj';
import { JobResult } from '../../gen/faas/v1/job.js';

/** Largest result kept in the results bucket; a larger one goes to the object store in chunks. */
const inlineResultMaxBytes = 512 * 1024;
/** Room left in a message for the KV subject and headers. */
const messageOverheadBytes = 4 * 1024;

/**
 * Job inputs and results. Results are stored per attempt, so a late report
 * from a superseded attempt cannot replace the result of the attempt that
 * the job record names. A result that fits in one message goes to the
 * results bucket as `<jobId>.<attempt>`: one write to store and one read to
 * fetch. A larger one, and every input, goes to the object store, which
 * costs a metadata lookup and a chunk write or a consumer to read.
 */
export class JobBlobs {
  private readonly inlineMaxBytes: number;

  /**
   * `maxPayloadBytes` is the server's message size limit (`max_payload`),
   * when known. `eraseResult` removes a results key without leaving a
   * delete marker (see `kvEraser`); by default it is a KV purge.
   */
  constructor(
    private readonly store: ObjectStore,
    private readonly results: KV,
    maxPayloadBytes?: number,
    private readonly eraseResult: (key: string) => Promise<void> = (key) => results.purge(key),
  ) {
    this.inlineMaxBytes = Math.min(inlineResultMaxBytes, (maxPayloadBytes ?? inlineResultMaxBytes) - messageOverheadBytes);
  }

  async putInput(jobId: string, input: Uint8Array): Promise<void> {
    await this.store.putBlob({ name: `input/${jobId}` }, input);
  }

  async getInput(jobId: string): Promise<Buffer> {
    const data = await this.store.getBlob(`input/${jobId}`);
    if (!data) throw new Error(`input of job ${jobId} is missing from the object store`);
    return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  }

  async putResult(jobId: string, attempt: number, result: JobResult): Promise<void> {
    const encoded = JobResult.encode(result).finish();
    if (encoded.length <= this.inlineMaxBytes) await this.results.put(resultKey(jobId, attempt), encoded);
    else await this.store.putBlob({ name: `result/${jobId}/${attempt}` }, encoded);
  }

  async getResult(jobId: string, attempt: number): Promise<JobResult | undefined> {
    const entry = await this.results.get(resultKey(jobId, attempt));
    if (entry && entry.operation === 'PUT') return JobResult.decode(entry.value);
    const data = await this.store.getBlob(`result/${jobId}/${attempt}`);
    return data ? JobResult.decode(data) : undefined;
  }

  /** Deletes the result of an attempt from wherever it is. */
  async deleteResult(jobId: string, attempt: number): Promise<void> {
    await this.eraseResult(resultKey(jobId, attempt));
    await this.store.delete(`result/${jobId}/${attempt}`).catch(() => undefined);
  }
}

/** Returns the results bucket key of an attempt; job ids contain no dots. */
export function resultKey(jobId: string, attempt: number): string {
  return `${jobId}.${attempt}`;
}
