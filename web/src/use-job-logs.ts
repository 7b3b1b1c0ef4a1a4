import { useEffect, useState } from 'react';
import { LogStream } from '../../gen/web/faas/v1/job';
import { isAbort, toApiError, type ApiError } from './api.js';
import { useApi } from './app-context.js';
import { delay, retryDelayMs, isRetryable } from './retry.js';

/** A run of output from one stream of one attempt. */
export interface LogSegment {
  key: number;
  stream: 'stdout' | 'stderr';
  attempt: number;
  text: string;
}

export interface JobLogs {
  segments: LogSegment[];
  /** Characters dropped from the start to keep the page responsive. */
  hiddenCharacters: number;
  status: 'connecting' | 'streaming' | 'ended' | 'failed';
  /** The last stream error; set while reconnecting and after giving up. */
  error?: ApiError;
}

/** Output kept in the page; older output is dropped beyond it. */
const maxShownCharacters = 1_000_000;
/** How often new output is handed to React, in milliseconds, so a chatty job does not render per chunk. */
const flushIntervalMs = 100;
const maxReconnects = 5;

/**
 * Follows a job's output with the Logs stream from offset 0 until the job has ended. A dropped stream is
 * opened again from the next byte offset, so no output is lost or shown twice.
 */
export function useJobLogs(jobId: string): JobLogs {
  const api = useApi();
  const [logs, setLogs] = useState<JobLogs>({ segments: [], hiddenCharacters: 0, status: 'connecting' });

  useEffect(() => {
    const controller = new AbortController();
    const signal = controller.signal;
    let segments: LogSegment[] = [];
    let hiddenCharacters = 0;
    let shownCharacters = 0;
    let nextKey = 0;
    let status: JobLogs['status'] = 'connecting';
    let lastError: ApiError | undefined;
    let flushTimer: number | undefined;
    // One decoder per stream and attempt, so a UTF-8 character split across chunks decodes whole.
    const decoders = new Map<string, TextDecoder>();

    const flush = () => {
      flushTimer = undefined;
      if (!signal.aborted) setLogs({ segments: [...segments], hiddenCharacters, status, error: lastError });
    };
    const scheduleFlush = () => {
      flushTimer ??= window.setTimeout(flush, flushIntervalMs);
    };

    const append = (stream: LogSegment['stream'], attempt: number, text: string) => {
      if (text === '') return;
      const last = segments[segments.length - 1];
      if (last !== undefined && last.stream === stream && last.attempt === attempt) {
        segments[segments.length - 1] = { ...last, text: last.text + text };
      } else {
        segments.push({ key: nextKey++, stream, attempt, text });
      }
      shownCharacters += text.length;
      while (shownCharacters > maxShownCharacters && segments.length > 0) {
        const excess = shownCharacters - maxShownCharacters;
        const first = segments[0];
        if (first.text.length <= excess) {
          segments.shift();
          shownCharacters -= first.text.length;
          hiddenCharacters += first.text.length;
        } else {
          segments[0] = { ...first, text: first.text.slice(excess) };
          shownCharacters -= excess;
          hiddenCharacters += excess;
        }
      }
    };

    void (async () => {
      let offset = 0;
      let failures = 0;
      while (!signal.aborted) {
        try {
          for await (const chunk of api.logs(jobId, offset, signal)) {
            status = 'streaming';
            lastError = undefined;
            failures = 0;
            const stream = chunk.stream === LogStream.STDERR ? 'stderr' : 'stdout';
            const decoderKey = `${chunk.attempt}:${stream}`;
            let decoder = decoders.get(decoderKey);
            if (decoder === undefined) {
              decoder = new TextDecoder('utf-8');
              decoders.set(decoderKey, decoder);
            }
            // After a reconnect, bytes before `offset` were shown already.
            const end = chunk.offset + chunk.data.length;
            if (end <= offset) continue;
            const data = chunk.offset < offset ? chunk.data.subarray(offset - chunk.offset) : chunk.data;
            append(stream, chunk.attempt, decoder.decode(data, { stream: true }));
            offset = end;
            scheduleFlush();
          }
          if (signal.aborted) return;
          status = 'ended';
          flush();
          return;
        } catch (error) {
          if (isAbort(error, signal)) return;
          lastError = toApiError(error);
          failures++;
          if (!isRetryable(lastError) || failures > maxReconnects) {
            status = 'failed';
            flush();
            return;
          }
          flush();
          await delay(retryDelayMs(failures), signal);
        }
      }
    })();

    return () => {
      controller.abort();
      if (flushTimer !== undefined) window.clearTimeout(flushTimer);
    };
  }, [api, jobId]);

  return logs;
}
