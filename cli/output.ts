import { failureReasonName, isFinal, stateName } from '../common/job-states.js';
import { FailureReason, JobPhase, JobState, type Job, type JobLimits, type RetryPolicy } from '../gen/faas/v1/job.js';
import { formatBytes } from '../common/config.js';
import { formatDuration } from '../common/duration.js';
import { withOptionNames } from './field-options.js';
import { describeAttempt } from '../common/attempts.js';

/** Formats a proto JSON value (from a generated `toJSON`) as indented JSON and a newline. */
export function formatJson(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}

/** Formats a proto JSON value as a single line, for one record per line. */
export function formatJsonLine(value: unknown): string {
  return `${JSON.stringify(value)}\n`;
}

/** Returns the short lower-case name of a phase, or "-" when unspecified. */
export function phaseName(phase: JobPhase): string {
  if (phase === JobPhase.JOB_PHASE_UNSPECIFIED) return '-';
  return (JobPhase[phase] ?? 'UNRECOGNIZED').replace('JOB_PHASE_', '').toLowerCase();
}

export { failureReasonName };

/** Formats a time as UTC ISO 8601 to the second, or "-" when unset. */
export function formatTime(date: Date | undefined): string {
  if (date === undefined) return '-';
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/**
 * Writes argv as a POSIX shell would read it back: an argument with
 * anything but letters, digits and `_@%+=:,./-` goes in single quotes, so
 * `$HOME` or `*` in a pasted command stays as it was.
 */
export function formatArgv(argv: readonly string[]): string {
  return argv.map((arg) => (/^[A-Za-z0-9_@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replaceAll("'", `'\\''`)}'`)).join(' ');
}

/** Formats a job's record as "label: value" lines, leaving out fields that are unset. */
export function formatJobDetails(job: Job): string {
  const spec = job.spec;
  const command = spec?.command ?? [];
  const args = spec?.args ?? [];
  const envNames = Object.keys(spec?.env ?? {});
  const rows: [string, string | undefined][] = [
    ['id', job.id],
    ['state', stateName(job.state)],
    ['phase', job.state === JobState.JOB_STATE_RUNNING ? phaseName(job.phase) : undefined],
    ['attempt', describeAttempt(job)],
    ['owner', job.ownerName && job.ownerName !== job.owner ? `${job.ownerName} (${job.owner})` : job.owner || undefined],
    ['repository', spec?.repositoryUrl || undefined],
    ['ref', spec?.ref || undefined],
    ['command', command.length > 0 ? formatArgv([...command, ...args]) : undefined],
    ['entrypoint', job.entrypoint ? `${job.entrypoint} (found by convention)` : undefined],
    // Without a command, the arguments went to the program found by convention.
    ['arguments', command.length === 0 && args.length > 0 ? formatArgv(args) : undefined],
    // Values can be secrets, so only the names are printed. --json prints the values.
    ['env', envNames.length > 0 ? envNames.join(', ') : undefined],
    ['commit', job.commitSha || undefined],
    ['created', job.createdAt && formatTime(job.createdAt)],
    ['started', job.startedAt && formatTime(job.startedAt)],
    ['finished', job.finishedAt && formatTime(job.finishedAt)],
    // Later attempts start when the earlier ones have run, so only the first one's wait is a time in the queue.
    ['queued for', job.attempt <= 1 && job.createdAt && job.startedAt ? formatDuration(job.startedAt.getTime() - job.createdAt.getTime()) : undefined],
    ['ran for', job.startedAt && job.finishedAt && `${formatDuration(job.finishedAt.getTime() - job.startedAt.getTime())}${job.attempt > 1 ? ` (attempt ${job.attempt})` : ''}`],
    ['worker', job.workerId || undefined],
    ['exit code', job.exitCode === undefined ? undefined : String(job.exitCode)],
    ['signal', job.signal || undefined],
    ['error', job.error && `${failureReasonName(job.error.reason)}: ${withOptionNames(job.error.message)}`],
    ['cancel requested', job.cancelRequested ? 'yes' : undefined],
    ['input', job.inputSizeBytes > 0 ? `${job.inputSizeBytes} bytes` : undefined],
    ['timeout', spec?.timeoutSeconds ? `${spec.timeoutSeconds} s` : undefined],
    ['limits', describeRequestedLimits(spec?.limits)],
    ['applied limits', job.appliedLimits && (limitParts(job.appliedLimits).join(', ') || undefined)],
    ['retry', describeRetry(spec?.retry)],
  ];

  const setRows = rows.filter((row): row is [string, string] => row[1] !== undefined);
  const width = Math.max(...setRows.map(([label]) => label.length)) + 1;
  return setRows.map(([label, value]) => `${`${label}:`.padEnd(width)} ${value}\n`).join('');
}

/** Names each set limit with its value, as `faas submit` takes them, such as "memory 512 MiB". */
function limitParts(limits: JobLimits): string[] {
  return [
    limits.memoryBytes ? `memory ${formatBytes(limits.memoryBytes)}` : '',
    limits.cpuPercent ? `cpu ${limits.cpuPercent}%` : '',
    limits.pids ? `pids ${limits.pids}` : '',
    limits.openFiles ? `open files ${limits.openFiles}` : '',
    limits.fileSizeBytes ? `file size ${formatBytes(limits.fileSizeBytes)}` : '',
    limits.diskBytes ? `disk ${formatBytes(limits.diskBytes)}` : '',
  ].filter(Boolean);
}

/** Describes the limits a job requested; unset ones are left out. */
function describeRequestedLimits(limits: JobLimits | undefined): string | undefined {
  const parts = limits === undefined ? [] : limitParts(limits);
  return parts.length === 0 ? undefined : `${parts.join(', ')} (requested; a worker may lower them)`;
}

function describeRetry(retry: RetryPolicy | undefined): string | undefined {
  if (retry === undefined || (retry.maxAttempts === 0 && !retry.retryFailedRuns)) return undefined;
  let attempts = `up to ${retry.maxAttempts} attempts`;
  if (retry.maxAttempts === 0) attempts = 'the default number of attempts';
  else if (retry.maxAttempts === 1) attempts = 'one attempt only';
  return `${attempts}${retry.retryFailedRuns ? ', failed runs included' : ''}`;
}

/** Formats jobs as a table with a header row and columns padded to their widest cell, with an OWNER column when `owners` is set. */
export function formatJobTable(jobs: readonly Job[], options: { owners?: boolean } = {}): string {
  const header = ['ID', 'STATE', 'PHASE', 'ATTEMPT', 'CREATED', ...(options.owners ? ['OWNER'] : []), 'REPOSITORY'];
  const rows = jobs.map((job) => [
    job.id,
    stateName(job.state),
    phaseName(job.phase),
    String(job.attempt),
    formatTime(job.createdAt),
    ...(options.owners ? [job.owner] : []),
    job.spec?.repositoryUrl ?? '',
  ]);

  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => row[column].length)));
  const formatRow = (cells: string[]): string =>
    cells
      .map((cell, column) => (column === cells.length - 1 ? cell : cell.padEnd(widths[column])))
      .join('  ')
      .trimEnd();

  return [header, ...rows].map((cells) => `${formatRow(cells)}\n`).join('');
}

/**
 * Formats one change for `faas watch`: time, state, phase and attempt. The
 * time is when the change was stored. A record from a scheduler that did not
 * store that time gives its own times for the changes it dates, and the
 * other changes get `receivedAt`.
 */
export function formatWatchLine(receivedAt: Date, job: Job): string {
  const columns = [formatTime(changedAt(job) ?? receivedAt), stateName(job.state).padEnd(9), phaseName(job.phase).padEnd(8), `attempt ${job.attempt}`];
  // The change that a Cancel call makes to a running job, which keeps its state and phase.
  if (job.cancelRequested && !isFinal(job.state)) columns.push('cancel requested');
  return `${columns.join('  ')}\n`;
}

/** Returns the time the record gives for the change it shows, or undefined when it gives none. */
function changedAt(job: Job): Date | undefined {
  if (job.updatedAt) return job.updatedAt;
  if (isFinal(job.state)) return job.finishedAt;
  if (job.state === JobState.JOB_STATE_QUEUED) return job.attempt === 0 ? job.createdAt : undefined;
  if (job.state === JobState.JOB_STATE_RUNNING && job.phase === JobPhase.JOB_PHASE_CLONING) return job.startedAt;
  return undefined;
}

/** Describes where a job is, for the progress line: "job ID: running, cloning, attempt 1". */
export function describeProgress(job: Job): string {
  const parts = [stateName(job.state)];
  // The phase RUNNING of the state RUNNING would read "running, running".
  if (job.state === JobState.JOB_STATE_RUNNING && job.phase !== JobPhase.JOB_PHASE_UNSPECIFIED && job.phase !== JobPhase.JOB_PHASE_RUNNING) {
    parts.push(phaseName(job.phase));
  }
  if (job.attempt > 0) parts.push(`attempt ${job.attempt}`);
  return `job ${job.id}: ${parts.join(', ')}`;
}

/**
 * Describes how a finished job that did not succeed ended, such as "job ID
 * failed: repository not found". Returns undefined for a job that succeeded.
 * When `shownOutput` (the job's stderr just printed) contains the worker's
 * note with the same message, the message is not repeated.
 */
export function describeOutcome(job: Job, options: { shownOutput?: string } = {}): string | undefined {
  if (job.state === JobState.JOB_STATE_SUCCEEDED) return undefined;

  const reason = job.error?.reason;
  const message = job.error?.message ?? '';
  if (reason === FailureReason.FAILURE_REASON_NON_ZERO_EXIT || (message === '' && job.exitCode !== undefined)) {
    return `job ${job.id} failed with exit code ${job.exitCode}`;
  }
  // These messages already state how the job ended, such as "timed out after 2 s".
  if (job.state === JobState.JOB_STATE_TIMED_OUT || job.state === JobState.JOB_STATE_CANCELLED) {
    return `job ${job.id} ${withOptionNames(message) || stateName(job.state).replace('_', ' ')}`;
  }
  if (message !== '' && options.shownOutput !== undefined) {
    // After retries the message is "failed after N attempts; the last one: REASON", and each attempt printed its REASON.
    const retried = /^(failed after \d+ attempts); the last one: (.*)$/s.exec(message);
    const lastReason = retried?.[2] ?? message;
    if (options.shownOutput.includes(`faas: ${lastReason}\n`)) return `job ${job.id} ${retried?.[1] ?? 'failed'}: see the line above`;
  }
  return message === '' ? `job ${job.id} failed` : `job ${job.id} failed: ${withOptionNames(message)}`;
}
