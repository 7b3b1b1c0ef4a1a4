import { useEffect, useState } from 'react';
import type { Job } from '../../gen/web/faas/v1/job';
import { isAbort, toApiError, type ApiError } from './api.js';
import { useApi } from './app-context.js';
import { isFinal } from './format.js';
import { delay, isRetryable, retryDelayMs } from './retry.js';

export interface JobRecord {
  job?: Job;
  /** Set when the job cannot be shown at all, such as NOT_FOUND. */
  error?: ApiError;
  /** Set while the Watch stream is broken and being opened again. */
  streamError?: ApiError;
}

const maxReconnects = 8;

/**
 * Follows a job's record with the Watch stream until it reaches a final state. A broken stream is opened
 * again with backoff; Watch starts with every change since the job was submitted, so nothing is missed.
 */
export function useJobRecord(jobId: string): [JobRecord, (job: Job) => void] {
  const api = useApi();
  const [record, setRecord] = useState<JobRecord>({});

  useEffect(() => {
    const controller = new AbortController();
    const signal = controller.signal;
    void (async () => {
      let failures = 0;
      while (!signal.aborted) {
        let finished = false;
        try {
          for await (const job of api.watch(jobId, signal)) {
            failures = 0;
            finished = isFinal(job.state);
            setRecord({ job });
          }
          if (finished || signal.aborted) return;
        } catch (error) {
          if (isAbort(error, signal)) return;
          const apiError = toApiError(error);
          failures++;
          if (!isRetryable(apiError) || failures > maxReconnects) {
            setRecord((current) => (current.job === undefined ? { error: apiError } : { job: current.job, streamError: apiError }));
            return;
          }
          setRecord((current) => ({ ...current, streamError: apiError }));
        }
        await delay(retryDelayMs(Math.max(failures, 1)), signal);
      }
    })();
    return () => controller.abort();
  }, [api, jobId]);

  // A record from another call, such as Cancel, replaces the shown one unless a newer final state is known.
  const replace = (job: Job) => setRecord((current) => (current.job !== undefined && isFinal(current.job.state) ? current : { job }));
  return [record, replace];
}
