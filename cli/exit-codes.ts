import { constants } from 'node:os';
import { FailureReason, JobState, type Job } from '../gen/faas/v1/job.js';

export const ExitCode = {
  Success: 0,
  /** A call failed, or a job failed without an exit code. */
  Failure: 1,
  /** The command line was invalid, or the gateway rejected one of its values (INVALID_ARGUMENT). */
  Usage: 2,
  /** The job timed out, as timeout(1) reports it. */
  TimedOut: 124,
  /** The job's program could not be started, as shells report a command not found. */
  NotStarted: 127,
  /** The job was cancelled, or the user pressed Ctrl-C: 128 + SIGINT, as shells report it. */
  Interrupted: 130,
} as const;

/**
 * Returns the exit code for a finished job: 124 for a timeout and 130 for a
 * cancel, as timeout(1) and shells report them, even when the program
 * exited by itself after SIGTERM. Otherwise its program's exit code when it
 * has one from 0 to 255, else a code for the final state, 127 for a program
 * that could not start, or 128 + N for a program that signal N ended. A
 * process exit status keeps only the low 8 bits, so a code such as 256
 * would read as success. A program that exited 0 in a job that did not
 * succeed, as one that passed its disk limit and then ended, gets the code
 * of the state, so that a script never reads success.
 */
export function jobExitCode(job: Job): number {
  if (job.state === JobState.JOB_STATE_TIMED_OUT) return ExitCode.TimedOut;
  if (job.state === JobState.JOB_STATE_CANCELLED) return ExitCode.Interrupted;
  const contradicts = job.exitCode === 0 && job.state !== JobState.JOB_STATE_SUCCEEDED;
  if (job.exitCode !== undefined && job.exitCode >= 0 && job.exitCode <= 255 && !contradicts) return job.exitCode;

  switch (job.state) {
    case JobState.JOB_STATE_SUCCEEDED:
      return ExitCode.Success;
    default: {
      if (job.error?.reason === FailureReason.FAILURE_REASON_START_FAILED) return ExitCode.NotStarted;
      const signal = (constants.signals as Record<string, number | undefined>)[job.signal];
      return signal === undefined ? ExitCode.Failure : 128 + signal;
    }
  }
}
