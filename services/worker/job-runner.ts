import { join } from 'node:path';
import { formatBytes } from '../../common/config.js';
import { FailureReason, JobPhase, JobState, LogStream, type JobLimits, type JobResult } from '../../gen/faas/v1/job.js';
import type { JobAssignment, JobOutcome } from '../../gen/faas/worker/v1/worker_service.js';
import type { Logger } from '../../common/logger.js';
import { inSpan, jobAttributes, trace, type Attributes } from '../../common/tracing.js';
import { CloneError, cloneRepository } from './clone.js';
import type { ResourceLimits, WorkerConfig } from './config.js';
import { NoEntrypointError, planLaunch, type Toolchain } from './entrypoint.js';
import type { JobFolders } from './job-folders.js';
import { stepEnding, stoppedEnding, type Ending, type Limits, type StopReason } from './job-outcome.js';
import { openStepRunner, type IsolationLevel, type StepResult } from './job-steps.js';
import type { ProcessResult } from './process.js';
import type { RepoCache } from './repo-cache.js';
import { watchDiskUsage } from './sandbox/disk.js';
import type { ProcessLauncher } from './launcher/launcher.js';
import type { SandboxPrograms } from './sandbox/programs.js';

export type { StopReason } from './job-outcome.js';

/** Stops that give the job's processes the stop grace after SIGTERM. A limit that was passed kills them at once. */
const gentleStops: ReadonlySet<StopReason> = new Set<StopReason>(['cancelled', 'timed-out', 'disconnected']);

/** Channel through which a running job reports to the scheduler. */
export interface JobReporter {
  /**
   * `entrypoint` names the convention file the job runs, once found. The
   * first update carries the limits the attempt runs with.
   */
  update(phase: JobPhase, commitSha: string, details?: { entrypoint?: string; appliedLimits?: JobLimits }): void;
  /** Resolves once the transport can take more output. */
  output(stream: LogStream, data: Buffer): Promise<void>;
}

/** Settings and resources a job runs with on this worker. */
export interface RunContext {
  config: WorkerConfig;
  toolchain: Toolchain;
  isolation: IsolationLevel;
  /** The sandbox programs, when they were built (see `buildSandboxPrograms`). */
  sandboxPrograms?: SandboxPrograms;
  /** Starts the jobs' programs; without it, or while it is off, the worker forks them itself. */
  launcher?: ProcessLauncher;
  /** Worker slot of the job, which picks its sandbox user. */
  slot: number;
  log: Logger;
  /** Repository cache; absent with FAAS_CACHE=off. */
  repoCache?: RepoCache;
  /** Makes the job's folder and takes it back afterwards. */
  folders: JobFolders;
}

/**
 * Runs one assignment: fetch the repository, build the convention
 * entrypoint if it needs it, run the program, and describe how it ended.
 * The job's timeout covers building and running; cloning has its own limit.
 * `stop` aborts with a StopReason. The job's folder stays for the caller to
 * delete with `removeJobDir`, so the outcome can be reported first.
 */
export async function runJob(assignment: JobAssignment, context: RunContext, reporter: JobReporter, stop: AbortSignal): Promise<JobOutcome> {
  const { config, log } = context;
  const spec = assignment.spec!;
  const jobDir = jobDirOf(config, assignment);
  const repoDir = join(jobDir, 'src');
  const startedMs = Date.now();
  const limits = resolveLimits(spec.limits, config.limits);
  const bounds: Limits = { ...limits, outputBytes: config.outputLimitBytes, timeoutSeconds: assignment.timeoutSeconds };
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
    cpuTimeMs: 0,
    peakMemoryBytes: 0,
    isolation: context.isolation,
    appliedLimits: limits,
    entrypoint: '',
  };
  let commitSha = '';
  const outcome = (ending: Ending): JobOutcome => {
    result.durationMs = Date.now() - startedMs;
    return {
      jobId: assignment.jobId,
      attempt: assignment.attempt,
      state: ending.state,
      error: ending.reason === undefined ? undefined : { reason: ending.reason, message: ending.message ?? '' },
      result,
      commitSha,
      platformFailure: ending.platformFailure ?? false,
      traceContext: {},
    };
  };
  // Messages from the worker itself go to the job's stderr: in the log, and in the result unless `logOnly`.
  const note = async (message: string, logOnly = false) => {
    const line = Buffer.from(`faas: ${message}\n`);
    if (!logOnly) result.stderr = Buffer.concat([result.stderr, line]);
    await reporter.output(LogStream.LOG_STREAM_STDERR, line);
  };
  const fail = async (reason: FailureReason, message: string, platformFailure = false) => {
    await note(message);
    return outcome({ state: JobState.JOB_STATE_FAILED, reason, message, platformFailure });
  };

  reporter.update(JobPhase.JOB_PHASE_CLONING, '', { appliedLimits: limits });
  // The acceptance marks the job RUNNING. Node's HTTP/2 session sends it in a
  // later turn of the event loop, which the job's synchronous set-up would delay.
  await new Promise((resolve) => setImmediate(resolve));
  try {
    // Marks where a retry's output begins in the job's log, which keeps every
    // attempt's output. The result contains this attempt's output alone, so the marker stays out of it.
    if (assignment.attempt > 1) {
      const previousError = assignment.previousAttemptError ? ` (${assignment.previousAttemptError})` : '';
      await note(`attempt ${assignment.attempt} starts${previousError}`, true);
    }
    if (spec.network && !config.allowNetwork) {
      return await fail(FailureReason.FAILURE_REASON_NETWORK_NOT_ALLOWED, 'the job asks for network access, which this worker does not grant; submit it without network access (no --network), or ask the operator for workers started with FAAS_ALLOW_NETWORK=true');
    }
    const lowered = loweredLimits(spec.limits, config.limits.maximums);
    if (lowered.length > 0) await note(`limits above this worker's maximums were lowered: ${lowered.join(', ')}`);
    const previousTree = await context.folders.create(jobDir);

    const cloneStarted = Date.now();
    try {
      const checkout = await traceStep('clone', { 'faas.job.ref': spec.ref }, () => cloneRepository({
        url: spec.repositoryUrl,
        ref: spec.ref,
        dir: repoDir,
        timeoutMs: config.cloneTimeoutMs,
        allowHttp: config.allowHttp,
        signal: stop,
        addressPolicy: { allow: config.allowedAddresses },
        maxBytes: config.cloneMaxBytes,
        cache: context.repoCache,
        submittedAtMs: assignment.submittedAt?.getTime(),
        previousTree,
      }));
      commitSha = checkout.commitSha;
      context.folders.keepTree(jobDir, checkout.tree);
      trace.getActiveSpan()?.setAttribute(jobAttributes.commit, commitSha);
    } catch (error) {
      if (!(error instanceof CloneError)) throw error;
      if (error.failure === 'cancelled') return outcome(stoppedEnding(stop.reason as StopReason, bounds) ?? stoppedEnding('cancelled', bounds)!);
      const reason =
        error.failure === 'address-not-allowed' ? FailureReason.FAILURE_REASON_ADDRESS_NOT_ALLOWED : FailureReason.FAILURE_REASON_CLONE_FAILED;
      // A network error or a slow server may pass; a missing repository or ref will not.
      const transient = error.failure === 'network' || error.failure === 'timed-out';
      return await fail(reason, error.message, transient);
    } finally {
      result.cloneMs = Date.now() - cloneStarted;
    }

    const runner = await openStepRunner({
      isolation: context.isolation,
      sandboxPrograms: context.sandboxPrograms,
      launcher: context.launcher,
      config,
      slot: context.slot,
      cgroupPrefix: `${assignment.jobId}-${assignment.attempt}`,
      jobDir,
      repoDir,
      env: spec.env,
      network: spec.network,
      limits,
    });

    // The job's timeout starts once the code is there. A cancel, the timeout
    // or a lost scheduler sends SIGTERM to the job's processes and kills them
    // after the stop grace. A limit kills them at once.
    const stopController = new AbortController();
    const terminateController = new AbortController();
    let stopReason: StopReason | undefined;
    let graceTimer: NodeJS.Timeout | undefined;
    const halt = (reason: StopReason) => {
      stopReason ??= reason;
      if (gentleStops.has(reason) && config.stopGraceMs > 0) {
        if (terminateController.signal.aborted) return;
        terminateController.abort(reason);
        graceTimer = setTimeout(() => stopController.abort(reason), config.stopGraceMs);
      } else if (!stopController.signal.aborted) {
        stopController.abort(reason);
      }
    };
    const deadline = setTimeout(() => halt('timed-out'), assignment.timeoutSeconds * 1000);
    const forward = () => halt(stop.reason as StopReason);
    if (stop.aborted) forward();
    else stop.addEventListener('abort', forward, { once: true });
    const disk = watchDiskUsage({ dir: jobDir, limitBytes: limits.diskBytes, onExceeded: () => halt('disk-limit') });
    const signal = stopController.signal;
    const onOutput = async (stream: LogStream, data: Buffer) => {
      const room = config.outputLimitBytes - result.outputBytes;
      result.outputBytes += data.length;
      if (data.length <= room) {
        await reporter.output(stream, data);
        return;
      }
      halt('output-limit');
      // The log keeps the output up to the limit exactly.
      if (room > 0) await reporter.output(stream, data.subarray(0, room));
    };
    const common = { signal, terminate: terminateController.signal, onOutput, captureBytes: config.outputCapBytes };

    try {
      let plan;
      try {
        plan = await planLaunch(repoDir, spec.command, spec.args, context.toolchain, runner.jobPath('main'));
      } catch (error) {
        if (!(error instanceof NoEntrypointError)) throw error;
        return await fail(FailureReason.FAILURE_REASON_NO_ENTRYPOINT, error.message);
      }
      const entrypoint = plan.source === 'command' ? '' : plan.source;
      result.entrypoint = entrypoint;
      // A stop during the set-up ends the job here, because a step started now
      // could miss its SIGTERM and run until the stop grace is over.
      const stoppedEarly = stoppedEnding(stopReason, bounds);
      if (stoppedEarly) return outcome(stoppedEarly);

      if (plan.build) {
        reporter.update(JobPhase.JOB_PHASE_BUILDING, commitSha, { entrypoint });
        const buildStarted = Date.now();
        const buildArgv = [plan.build.file, ...plan.build.args];
        const build = await traceStep('build', { 'process.command': plan.build.file }, () =>
          runner.run({ ...common, name: 'build', argv: buildArgv, input: Buffer.alloc(0) }),
        );
        result.buildMs = Date.now() - buildStarted;
        addStep(result, build, config.outputCapBytes);
        // What the step wrote since the last walk counts too, however short the step was.
        await disk.check();
        const stopped = stoppedEnding(stopReason, bounds);
        if (stopped) return outcome(stopped);
        const ending = stepEnding(build, plan.build.file, bounds);
        if (ending.state !== JobState.JOB_STATE_SUCCEEDED) {
          if (ending.reason !== FailureReason.FAILURE_REASON_NON_ZERO_EXIT) return outcome(ending);
          return outcome({
            state: JobState.JOB_STATE_FAILED,
            reason: FailureReason.FAILURE_REASON_BUILD_FAILED,
            message: `building ${plan.source} failed with exit code ${build.process.exitCode}; the compiler's messages are in stderr`,
          });
        }
      }

      reporter.update(JobPhase.JOB_PHASE_RUNNING, commitSha, { entrypoint });
      const runStarted = Date.now();
      const runArgv = [plan.run.file, ...plan.run.args];
      const run = await traceStep('run', { 'process.command': plan.run.file }, () =>
        runner.run({ ...common, name: 'run', argv: runArgv, input: spec.input }),
      );
      result.runMs = Date.now() - runStarted;
      addStep(result, run, config.outputCapBytes);
      await disk.check();
      const ending = stoppedEnding(stopReason, bounds) ?? stepEnding(run, plan.run.file, bounds);
      if (ending.reason === FailureReason.FAILURE_REASON_START_FAILED && run.process.startError) await note(ending.message!);
      return outcome(ending);
    } finally {
      clearTimeout(deadline);
      clearTimeout(graceTimer);
      disk.stop();
      stop.removeEventListener('abort', forward);
    }
  } catch (error) {
    // The job's processes may have outlived it, as when its cgroup could not be emptied, so its checkout is not kept for another job.
    context.folders.keepTree(jobDir, undefined);
    log.error({ err: error, jobId: assignment.jobId, attempt: assignment.attempt }, 'job failed inside the worker');
    return outcome(
      stoppedEnding(stop.reason as StopReason | undefined, bounds) ?? {
        state: JobState.JOB_STATE_FAILED,
        reason: FailureReason.FAILURE_REASON_INTERNAL,
        message: 'the worker failed while running the job',
        platformFailure: true,
      },
    );
  }
}

/** Returns the folder of one attempt of a job, which contains its checkout, home and tmp. */
export function jobDirOf(config: WorkerConfig, assignment: Pick<JobAssignment, 'jobId' | 'attempt'>): string {
  return join(config.workDir, `${assignment.jobId}-${assignment.attempt}`);
}

/** Empties an attempt's folder for a later job unless the operator keeps them (WORKER_KEEP_JOB_DIRS). */
export async function releaseJobDir(
  config: WorkerConfig,
  folders: JobFolders,
  assignment: Pick<JobAssignment, 'jobId' | 'attempt'>,
): Promise<void> {
  const jobDir = jobDirOf(config, assignment);
  if (config.keepJobDirs) folders.leave(jobDir);
  else await folders.release(jobDir);
}

/**
 * Runs one step of a job inside its own span. A step that returns a failed
 * process still ends as a span without error: the job failed, the step ran.
 */
function traceStep<T extends StepResult | { commitSha: string }>(name: string, attributes: Attributes, work: () => Promise<T>): Promise<T> {
  return inSpan(name, { attributes }, async (span) => {
    const result = await work();
    if ('process' in result) {
      span.setAttributes({
        'process.exit.code': result.process.exitCode ?? -1,
        ...(result.process.signal ? { 'faas.process.signal': result.process.signal } : {}),
      });
    }
    return result;
  });
}

/** Applies the operator's defaults to unset limits and caps every limit at the operator's maximum. */
export function resolveLimits(requested: JobLimits | undefined, operator: WorkerConfig['limits']): ResourceLimits {
  const pick = (key: keyof ResourceLimits) => Math.min(requested?.[key] || operator.defaults[key], operator.maximums[key]);
  return {
    memoryBytes: pick('memoryBytes'),
    pids: pick('pids'),
    cpuPercent: pick('cpuPercent'),
    fileSizeBytes: pick('fileSizeBytes'),
    openFiles: pick('openFiles'),
    diskBytes: pick('diskBytes'),
  };
}

/** Each limit as `faas status` names it, with the way its values read. */
const limitWording: ReadonlyArray<readonly [keyof ResourceLimits, string, (value: number) => string]> = [
  ['memoryBytes', 'memory', formatBytes],
  ['pids', 'pids', String],
  ['cpuPercent', 'cpu', (value) => `${value}%`],
  ['fileSizeBytes', 'file size', formatBytes],
  ['openFiles', 'open files', String],
  ['diskBytes', 'disk', formatBytes],
];

/** Names each requested limit above the worker's maximum, with the value it runs with, such as "memory 8 GiB to 4 GiB". */
export function loweredLimits(requested: JobLimits | undefined, maximums: ResourceLimits): string[] {
  const lowered: string[] = [];
  for (const [key, name, show] of limitWording) {
    const value = requested?.[key] ?? 0;
    if (value <= maximums[key]) continue;
    lowered.push(`${name} ${show(value)} to ${show(maximums[key])}`);
  }
  return lowered;
}

/** Adds a step's output and resource use to the result, keeping each stream within `capBytes` across steps. */
function addStep(result: JobResult, step: StepResult, capBytes: number): void {
  const process: ProcessResult = step.process;
  const stdout = Buffer.concat([result.stdout, process.stdout]);
  const stderr = Buffer.concat([result.stderr, process.stderr]);
  result.exitCode = process.exitCode;
  result.signal = process.signal ?? '';
  result.stdout = stdout.subarray(0, capBytes);
  result.stderr = stderr.subarray(0, capBytes);
  result.stdoutTruncated ||= process.stdoutTruncated || stdout.length > capBytes;
  result.stderrTruncated ||= process.stderrTruncated || stderr.length > capBytes;
  if (step.stats) {
    result.cpuTimeMs += step.stats.cpuTimeMs;
    result.peakMemoryBytes = Math.max(result.peakMemoryBytes, step.stats.peakMemoryBytes);
  }
}
