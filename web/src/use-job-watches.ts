import { useEffect, useRef } from 'react';
import type { Job } from '../../gen/web/faas/v1/job';
import { isAbort } from './api.js';
import { useApi } from './app-context.js';
import { isFinal } from './format.js';

/**
 * Watch streams the page keeps open for a list at once. Browsers allow six HTTP/1.1 connections per origin,
 * and each open stream uses one, so the rest stay free for unary calls and a job's log stream.
 */
export const maxListWatches = 3;

/**
 * Keeps a Watch stream open for each of the first `maxListWatches` unfinished jobs and reports every new
 * record. The caller polls for the other unfinished jobs, and for jobs whose stream failed.
 */
export function useJobWatches(jobs: Job[], onUpdate: (job: Job) => void): void {
  const api = useApi();
  const onUpdateRef = useRef(onUpdate);
  onUpdateRef.current = onUpdate;
  const streams = useRef(new Map<string, AbortController>());

  const watchedIds = jobs
    .filter((job) => !isFinal(job.state))
    .slice(0, maxListWatches)
    .map((job) => job.id);
  const key = watchedIds.join(',');

  // Opens streams for newly listed jobs and closes those of jobs that left the list or finished.
  useEffect(() => {
    const idsToWatch = new Set(key === '' ? [] : key.split(','));
    for (const [jobId, controller] of streams.current) {
      if (!idsToWatch.has(jobId)) {
        controller.abort();
        streams.current.delete(jobId);
      }
    }
    for (const jobId of idsToWatch) {
      if (streams.current.has(jobId)) continue;
      const controller = new AbortController();
      streams.current.set(jobId, controller);
      void (async () => {
        try {
          for await (const job of api.watch(jobId, controller.signal)) onUpdateRef.current(job);
        } catch (error) {
          // The list keeps the last known state, and the caller's polling picks the job up again.
          if (!isAbort(error, controller.signal)) console.warn(`Watch of job ${jobId} failed`, error);
        } finally {
          if (streams.current.get(jobId) === controller) streams.current.delete(jobId);
        }
      })();
    }
  }, [api, key]);

  useEffect(() => {
    const open = streams.current;
    return () => {
      for (const controller of open.values()) controller.abort();
      open.clear();
    };
  }, []);
}
