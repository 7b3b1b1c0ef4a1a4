import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { DispatchSample } from './dispatch-latency.js';
import { measurement, type Measurement } from './results.js';

/** Log events of one job, by message, with their pino times (ms since the epoch). */
type JobEvents = Map<string, number>;

/** Log messages that mark the steps between Submit and RUNNING, with the service that writes each. */
const stepMessages = ['job queued', 'assigned job', 'job accepted', 'job started'] as const;

/**
 * Splits the time from Submit to RUNNING of the dispatch-latency jobs into
 * steps, from the client's clock, the job record's `createdAt` and the
 * service logs (pino, millisecond times, same host clock):
 *
 * - Submit called to record created: gateway token check, the hop to the
 *   scheduler, the owner's active-job slot and the idempotency key;
 * - record created to "job queued": writing the record and index, and the queue publish;
 * - "job queued" to Submit returned: the response through the gateway;
 * - "job queued" to "assigned job": the dispatcher's pull and record read;
 * - "assigned job" to the worker's "job accepted": the assignment on the worker stream;
 * - "job accepted" to "job started": the worker's first update and the RUNNING write;
 * - "job started" to RUNNING seen on Watch (measured from the client's accepted time).
 */
export async function dispatchBreakdown(logDir: string, samples: DispatchSample[]): Promise<Measurement[]> {
  const events = await readJobEvents(logDir, new Set(samples.map((sample) => sample.jobId)));
  const steps: Array<{ key: string; label: string; from: (sample: DispatchSample, job: JobEvents) => number | undefined; to: (sample: DispatchSample, job: JobEvents) => number | undefined }> = [
    { key: 'submit-to-created', label: 'Submit called to record created (auth, hop, owner slot, idempotency key)', from: (s) => s.submitStartWallMs, to: (s) => s.createdWallMs },
    { key: 'created-to-queued', label: 'Record created to queued (record, publish)', from: (s) => s.createdWallMs, to: (_, job) => job.get('job queued') },
    { key: 'queued-to-accepted', label: 'Queued to Submit returned (response path)', from: (_, job) => job.get('job queued'), to: (s) => s.acceptedWallMs },
    { key: 'queued-to-assigned', label: 'Queued to assigned (dispatcher pull, record read)', from: (_, job) => job.get('job queued'), to: (_, job) => job.get('assigned job') },
    { key: 'assigned-to-worker', label: 'Assigned to worker accepted (worker stream)', from: (_, job) => job.get('assigned job'), to: (_, job) => job.get('job accepted') },
    { key: 'worker-to-started', label: 'Worker accepted to RUNNING stored (update, state write, log open)', from: (_, job) => job.get('job accepted'), to: (_, job) => job.get('job started') },
    { key: 'started-to-observed', label: 'RUNNING stored to RUNNING seen on Watch', from: (_, job) => job.get('job started'), to: (s) => s.acceptedWallMs + s.observedMs },
  ];
  return steps.map((step) => {
    const values: number[] = [];
    for (const sample of samples) {
      const job = events.get(sample.jobId);
      if (!job) continue;
      const from = step.from(sample, job);
      const to = step.to(sample, job);
      if (from !== undefined && to !== undefined && Number.isFinite(to - from)) values.push(to - from);
    }
    return measurement(step.key, step.label, 'ms', 'p25-p75', values);
  });
}

/** Reads the scheduler and worker logs and returns the step events of the given jobs. */
async function readJobEvents(logDir: string, jobIds: Set<string>): Promise<Map<string, JobEvents>> {
  const events = new Map<string, JobEvents>();
  const files = (await readdir(logDir)).filter((file) => file === 'scheduler.log' || /^worker-\d+\.log$/.test(file));
  for (const file of files) {
    const text = await readFile(join(logDir, file), 'utf8');
    for (const line of text.split('\n')) {
      if (!line.startsWith('{')) continue;
      let entry: { time?: number; msg?: string; jobId?: string };
      try {
        entry = JSON.parse(line) as typeof entry;
      } catch {
        continue;
      }
      if (!entry.jobId || !jobIds.has(entry.jobId) || typeof entry.time !== 'number') continue;
      if (!(stepMessages as readonly string[]).includes(entry.msg ?? '')) continue;
      const job = events.get(entry.jobId) ?? new Map<string, number>();
      if (!job.has(entry.msg!)) job.set(entry.msg!, entry.time);
      events.set(entry.jobId, job);
    }
  }
  return events;
}
