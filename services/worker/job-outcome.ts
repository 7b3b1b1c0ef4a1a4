import { FailureReason, JobState } from '../../gen/faas/v1/job.js';
import { formatBytes } from '../../common/config.js';
import type { StepResult } from './job-steps.js';

/** Cause of stopping a job before it finished on its own. */
export type StopReason = 'cancelled' | 'timed-out' | 'disconnected' | 'disk-limit' | 'output-limit';

export interface Ending {
  state: JobState;
  reason?: FailureReason;
  message?: string;
  /** The platform failed, not the job's code, so another attempt may succeed. */
  platformFailure?: boolean;
}

/** SIGXFSZ is signal 25 on Linux; bubblewrap reports a signal death as 128 + its number. */
const fileSizeSignalExit = 128 + 25;
const startFailure = /^bwrap: execvp (.+?): (.+)$/m;

export interface Limits {
  memoryBytes: number;
  pids: number;
  fileSizeBytes: number;
  diskBytes: number;
  outputBytes: number;
  timeoutSeconds: number;
}

/** Describes why the job was stopped, or undefined when it was not. */
export function stoppedEnding(reason: StopReason | undefined, limits: Limits): Ending | undefined {
  switch (reason) {
    case 'timed-out':
      return { state: JobState.JOB_STATE_TIMED_OUT, reason: FailureReason.FAILURE_REASON_TIMED_OUT, message: `timed out after ${limits.timeoutSeconds} s; raise spec.timeout_seconds to give it more time` };
    case 'cancelled':
    case 'disconnected':
      return { state: JobState.JOB_STATE_CANCELLED, reason: FailureReason.FAILURE_REASON_CANCELLED, message: 'cancelled while running' };
    case 'disk-limit':
      return {
        state: JobState.JOB_STATE_FAILED,
        reason: FailureReason.FAILURE_REASON_DISK_LIMIT,
        message: `the job folder grew past its disk limit of ${formatBytes(limits.diskBytes)}; raise spec.limits.disk_bytes to give it more`,
      };
    case 'output-limit':
      return {
        state: JobState.JOB_STATE_FAILED,
        reason: FailureReason.FAILURE_REASON_OUTPUT_LIMIT,
        message: `the job wrote more than ${formatBytes(limits.outputBytes)} of output`,
      };
    default:
      return undefined;
  }
}

/**
 * Describes how a step that ran to its end finished, most specific cause
 * first: killed for memory, a file too large, too many processes, a program
 * that could not start, then its exit code or signal.
 */
export function stepEnding(step: StepResult, program: string, limits: Limits): Ending {
  const { process, stats } = step;
  if (stats?.oomKilled) {
    return {
      state: JobState.JOB_STATE_FAILED,
      reason: FailureReason.FAILURE_REASON_OUT_OF_MEMORY,
      message: `ran out of its memory limit of ${formatBytes(limits.memoryBytes)} and was killed; raise spec.limits.memory_bytes to give it more`,
    };
  }
  if (process.signal === 'SIGXFSZ' || process.exitCode === fileSizeSignalExit) {
    return {
      state: JobState.JOB_STATE_FAILED,
      reason: FailureReason.FAILURE_REASON_FILE_SIZE_LIMIT,
      message: `wrote a file larger than its limit of ${formatBytes(limits.fileSizeBytes)}; raise spec.limits.file_size_bytes to allow larger files`,
    };
  }
  if (process.startError) {
    const why = process.startError.code === 'ENOENT' ? 'no such program' : process.startError.message;
    return { state: JobState.JOB_STATE_FAILED, reason: FailureReason.FAILURE_REASON_START_FAILED, message: `could not start ${program}: ${why}` };
  }
  const sandboxStart = process.exitCode === 1 ? startFailure.exec(process.stderr.toString()) : null;
  if (sandboxStart) {
    return {
      state: JobState.JOB_STATE_FAILED,
      reason: FailureReason.FAILURE_REASON_START_FAILED,
      message: `could not start ${sandboxStart[1]}: ${sandboxStart[2].toLowerCase()}`,
    };
  }
  if (process.exitCode === 0) return { state: JobState.JOB_STATE_SUCCEEDED };
  if (stats?.pidsLimitHit) {
    return {
      state: JobState.JOB_STATE_FAILED,
      reason: FailureReason.FAILURE_REASON_PROCESS_LIMIT,
      message: `reached its limit of ${limits.pids} processes${process.exitCode === undefined ? '' : ` and exited with code ${process.exitCode}`}; raise spec.limits.pids to allow more`,
    };
  }
  if (process.exitCode !== undefined) {
    return { state: JobState.JOB_STATE_FAILED, reason: FailureReason.FAILURE_REASON_NON_ZERO_EXIT, message: `exited with code ${process.exitCode}` };
  }
  return { state: JobState.JOB_STATE_FAILED, reason: FailureReason.FAILURE_REASON_SIGNALED, message: `ended by signal ${process.signal}` };
}
