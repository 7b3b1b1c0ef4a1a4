import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { FailureReason, JobPhase, JobState, LogStream, type JobResult } from '../../gen/faas/v1/job.js';
import type { JobAssignment, JobOutcome } from '../../gen/faas/worker/v1/worker_service.js';
import type { Logger } from '../../common/logger.js';
import { CloneError, cloneRepository } from './clone.js';
import type { WorkerConfig } from './config.js';
import { NoEntrypointError, planLaunch, type Toolchain } from './entrypoint.js';
import { runProcess, type ProcessResult } from './process.js';

/** Cause of stopping a job before it finished on its own. */
export type StopReason = 'cancelled' | 'timed-out' | 'disconnected';

/** Channel through which a running job reports to the scheduler. */
export interface JobReporter {
  update(phase: JobPhase, commitSha: string): void;
  /** Resolves once the transport can take more output. */
  output(stream: LogStream, data: Buffer): Promise<void>;
}

const systemPath = '/usr/local/bin:/usr/bin:/bin';

/**
 * Runs one assignment: fetch the repository, build the convention
 * entrypoint if it needs it, run the program, and describe how it ended.
 * The job's timeout covers building and running; cloning has its own limit.
 * `stop` aborts with a StopReason.
 */
export async function runJob(
  assignment: JobAssignment,
  config: WorkerConfig,
  toolchain: Toolchain,
  reporter: JobReporter,
  stop: AbortSignal,
  log: Logger,
): Promise<JobOutcome> {
  const spec = assignment.spec!;
  const jobDir = join(config.workDir, `${assignment.jobId}-${assignment.attempt}`);
  const repoDir = join(jobDir, 'src');
  const startedMs = Date.now();
  const result: JobResult = {
    stdout: Buffer.alloc(0),
    stderr: Buffer.alloc(0),
    signal: '',
    stdoutTruncated: false,
    stderrTruncated: false,
    durationMs: 0,
    cloneMs: 0,
    buildMs: 0,
    runMs: 0,
    outputBytes: 0,
  };
  let commitSha = '';
  const outcome = (state: JobState, reason?: FailureReason, message?: string): JobOutcome => {
    result.durationMs = Date.now() - startedMs;
    return {
      jobId: assignment.jobId,
      attempt: assignment.attempt,
      state,
      error: reason === undefined ? undefined : { reason, message: message ?? '' },
      result,
      commitSha,
    };
  };
  const stopped = (): JobOutcome | undefined => {
    const reason = stop.reason as StopReason | undefined;
    if (reason === 'timed-out') {
      return outcome(JobState.JOB_STATE_TIMED_OUT, FailureReason.FAILURE_REASON_TIMED_OUT, `timed out after ${assignment.timeoutSeconds} s`);
    }
    if (reason === 'cancelled' || reason === 'disconnected') {
      return outcome(JobState.JOB_STATE_CANCELLED, FailureReason.FAILURE_REASON_CANCELLED, 'cancelled while running');
    }
    return undefined;
  };

  // Messages from the worker itself go to the job's stderr, in the log and the result.
  const note = async (message: string) => {
    const line = Buffer.from(`faas: ${message}\n`);
    result.stderr = Buffer.concat([result.stderr, line]);
    await reporter.output(LogStream.LOG_STREAM_STDERR, line);
  };

  reporter.update(JobPhase.JOB_PHASE_CLONING, '');
  try {
    await mkdir(join(jobDir, 'home'), { recursive: true });
    await mkdir(join(jobDir, 'tmp'), { recursive: true });

    const cloneStarted = Date.now();
    try {
      commitSha = await cloneRepository({
        url: spec.repositoryUrl,
        ref: spec.ref,
        dir: repoDir,
        timeoutMs: config.cloneTimeoutMs,
        allowHttp: config.allowHttp,
        signal: stop,
      });
    } catch (error) {
      if (!(error instanceof CloneError)) throw error;
      if (error.failure === 'cancelled') return stopped() ?? outcome(JobState.JOB_STATE_CANCELLED, FailureReason.FAILURE_REASON_CANCELLED, error.message);
      await note(error.message);
      return outcome(JobState.JOB_STATE_FAILED, FailureReason.FAILURE_REASON_CLONE_FAILED, error.message);
    } finally {
      result.cloneMs = Date.now() - cloneStarted;
    }

    // The job's timeout starts once the code is there.
    const stopController = new AbortController();
    const deadline = setTimeout(() => stopController.abort('timed-out'), assignment.timeoutSeconds * 1000);
    const forward = () => stopController.abort(stop.reason);
    if (stop.aborted) forward();
    else stop.addEventListener('abort', forward, { once: true });
    try {
      return await buildAndRun();
    } finally {
      clearTimeout(deadline);
      stop.removeEventListener('abort', forward);
    }

    async function buildAndRun(): Promise<JobOutcome> {
      const signal = stopController.signal;
      const stoppedHere = () => {
        const reason = signal.reason as StopReason;
        if (reason === 'timed-out') {
          return outcome(JobState.JOB_STATE_TIMED_OUT, FailureReason.FAILURE_REASON_TIMED_OUT, `timed out after ${assignment.timeoutSeconds} s`);
        }
        return outcome(JobState.JOB_STATE_CANCELLED, FailureReason.FAILURE_REASON_CANCELLED, 'cancelled while running');
      };
      let plan;
      try {
        plan = await planLaunch(repoDir, spec.command, spec.args, toolchain, join(jobDir, 'main'));
      } catch (error) {
        if (!(error instanceof NoEntrypointError)) throw error;
        await note(error.message);
        return outcome(JobState.JOB_STATE_FAILED, FailureReason.FAILURE_REASON_NO_ENTRYPOINT, error.message);
      }
      const env: Record<string, string> = {
        PATH: systemPath,
        HOME: join(jobDir, 'home'),
        TMPDIR: join(jobDir, 'tmp'),
        LANG: 'C.UTF-8',
        ...spec.env,
      };
      const common = {
        cwd: repoDir,
        env,
        signal,
        captureBytes: config.outputCapBytes,
        onOutput: (stream: LogStream, data: Buffer) => reporter.output(stream, data),
      };

      if (plan.build) {
        reporter.update(JobPhase.JOB_PHASE_BUILDING, commitSha);
        const buildStarted = Date.now();
        const build = await runProcess({ ...common, ...plan.build, input: Buffer.alloc(0) });
        result.buildMs = Date.now() - buildStarted;
        if (signal.aborted) return stoppedHere();
        if (build.startError || build.exitCode !== 0) {
          copyOutput(result, build, config.outputCapBytes);
          const message = `building ${plan.source} failed${build.exitCode === undefined ? '' : ` with exit code ${build.exitCode}`}; the compiler's messages are in stderr`;
          return outcome(JobState.JOB_STATE_FAILED, FailureReason.FAILURE_REASON_BUILD_FAILED, message);
        }
      }

      reporter.update(JobPhase.JOB_PHASE_RUNNING, commitSha);
      const runStarted = Date.now();
      const run = await runProcess({ ...common, ...plan.run, input: spec.input });
      result.runMs = Date.now() - runStarted;
      copyOutput(result, run, config.outputCapBytes);
      if (signal.aborted) return stoppedHere();
      if (run.startError) {
        const message = `could not start ${plan.run.file}: ${run.startError.code === 'ENOENT' ? 'no such program' : run.startError.message}`;
        await note(message);
        return outcome(JobState.JOB_STATE_FAILED, FailureReason.FAILURE_REASON_START_FAILED, message);
      }
      if (run.exitCode === 0) return outcome(JobState.JOB_STATE_SUCCEEDED);
      if (run.exitCode !== undefined) {
        return outcome(JobState.JOB_STATE_FAILED, FailureReason.FAILURE_REASON_NON_ZERO_EXIT, `exited with code ${run.exitCode}`);
      }
      return outcome(JobState.JOB_STATE_FAILED, FailureReason.FAILURE_REASON_SIGNALED, `ended by signal ${run.signal}`);
    }
  } catch (error) {
    log.error({ err: error, jobId: assignment.jobId, attempt: assignment.attempt }, 'job failed inside the worker');
    return stopped() ?? outcome(JobState.JOB_STATE_FAILED, FailureReason.FAILURE_REASON_INTERNAL, 'the worker failed while running the job');
  } finally {
    if (!config.keepJobDirs) await rm(jobDir, { recursive: true, force: true }).catch(() => undefined);
  }
}

/** Adds a process's output to the result, keeping each stream within `capBytes` across build and run. */
function copyOutput(result: JobResult, process: ProcessResult, capBytes: number): void {
  const stdout = Buffer.concat([result.stdout, process.stdout]);
  const stderr = Buffer.concat([result.stderr, process.stderr]);
  result.exitCode = process.exitCode;
  result.signal = process.signal ?? '';
  result.stdout = stdout.subarray(0, capBytes);
  result.stderr = stderr.subarray(0, capBytes);
  result.stdoutTruncated ||= process.stdoutTruncated || stdout.length > capBytes;
  result.stderrTruncated ||= process.stderrTruncated || stderr.length > capBytes;
  result.outputBytes += process.outputBytes;
}
