import type { ObjectStore } from '@nats-io/obj';
import { JobResult } from '../../gen/faas/v1/job.js';

/**
 * Job inputs and results in the Object Store. Results are stored per
 * attempt, so a late report from a superseded attempt cannot replace the
 * result of the attempt that the job record names.
 */
export class JobBlobs {
  constructor(private readonly store: ObjectStore) {}

  async putInput(jobId: string, input: Uint8Array): Promise<void> {
    await this.store.putBlob({ name: `input/${jobId}` }, input);
  }

  async getInput(jobId: string): Promise<Buffer> {
    const data = await this.store.getBlob(`input/${jobId}`);
    if (!data) throw new Error(`input of job ${jobId} is missing from the object store`);
    return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  }

  async putResult(jobId: string, attempt: number, result: JobResult): Promise<void> {
    await this.store.putBlob({ name: `result/${jobId}/${attempt}` }, JobResult.encode(result).finish());
  }

  async getResult(jobId: string, attempt: number): Promise<JobResult | undefined> {
    const data = await this.store.getBlob(`result/${jobId}/${attempt}`);
    return data ? JobResult.decode(data) : undefined;
  }
}
