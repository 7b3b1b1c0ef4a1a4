import type { Timestamp } from '../../gen/web/google/protobuf/timestamp';
import { formatDuration } from '../../common/duration.js';

export { formatDuration };
import { FailureReason, JobPhase, JobState, type Job, type JobLimits } from '../../gen/web/faas/v1/job';

export const stateLabels: Record<JobState, string> = {
  [JobState.UNSPECIFIED]: 'Unknown',
  [JobState.QUEUED]: 'Queued',
  [JobState.RUNNING]: 'Running',
  [JobState.SUCCEEDED]: 'Succeeded',
  [JobState.FAILED]: 'Failed',
  [JobState.TIMED_OUT]: 'Timed out',
  [JobState.CANCELLED]: 'Cancelled',
};

export const stateColors: Record<JobState, string> = {
  [JobState.UNSPECIFIED]: 'gray',
  [JobState.QUEUED]: 'gray',
  [JobState.RUNNING]: 'blue',
  [JobState.SUCCEEDED]: 'teal',
  [JobState.FAILED]: 'red',
  [JobState.TIMED_OUT]: 'orange',
  [JobState.CANCELLED]: 'yellow',
};

const phaseLabels: Record<JobPhase, string> = {
  [JobPhase.UNSPECIFIED]: '',
  [JobPhase.CLONING]: 'cloning',
  [JobPhase.BUILDING]: 'building',
  // A running job in its running phase needs no second word.
  [JobPhase.RUNNING]: '',
};

const failureLabels: Record<FailureReason, string> = {
  [FailureReason.UNSPECIFIED]: 'Unknown failure',
  [FailureReason.NON_ZERO_EXIT]: 'Non-zero exit code',
  [FailureReason.SIGNALED]: 'Ended by a signal',
  [FailureReason.TIMED_OUT]: 'Timed out',
  [FailureReason.CANCELLED]: 'Cancelled',
  [FailureReason.CLONE_FAILED]: 'Clone failed',
  [FailureReason.NO_ENTRYPOINT]: 'No entrypoint found',
  [FailureReason.BUILD_FAILED]: 'Build failed',
  [FailureReason.START_FAILED]: 'Program could not start',
  [FailureReason.WORKER_LOST]: 'Worker lost',
  [FailureReason.INTERNAL]: 'Platform error',
  [FailureReason.OUT_OF_MEMORY]: 'Out of memory',
  [FailureReason.PROCESS_LIMIT]: 'Process limit reached',
  [FailureReason.OUTPUT_LIMIT]: 'Output limit reached',
  [FailureReason.DISK_LIMIT]: 'Disk limit reached',
  [FailureReason.FILE_SIZE_LIMIT]: 'File size limit reached',
  [FailureReason.NETWORK_NOT_ALLOWED]: 'Network not allowed',
  [FailureReason.ADDRESS_NOT_ALLOWED]: 'Repository address not allowed',
};

/** True for the states a job never leaves. */
export function isFinal(state: JobState): boolean {
  return state !== JobState.QUEUED && state !== JobState.RUNNING && state !== JobState.UNSPECIFIED;
}

/** Returns the state name as the API spells it, such as `CANCELLED`, for test hooks. */
export function stateName(state: JobState): string {
  return JobState[state] ?? 'UNSPECIFIED';
}

/** Returns the state with the phase of a running job, such as "Running (cloning)". */
export function describeState(job: Job): string {
  const details: string[] = [];
  if (job.state === JobState.RUNNING && phaseLabels[job.phase] !== '') details.push(phaseLabels[job.phase]);
  if (job.cancelRequested && !isFinal(job.state)) details.push('cancelling');
  const label = stateLabels[job.state];
  return details.length === 0 ? label : `${label} (${details.join(', ')})`;
}

export function describeFailure(reason: FailureReason): string {
  return failureLabels[reason] ?? `Failure ${reason}`;
}

export function toDate(timestamp: Timestamp | undefined): Date | undefined {
  if (timestamp === undefined) return undefined;
  return new Date(timestamp.seconds * 1000 + Math.floor(timestamp.nanos / 1_000_000));
}

// The browser's locale and time zone.
const dateTimeFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'medium' });
const timeFormat = new Intl.DateTimeFormat(undefined, { timeStyle: 'medium' });

/** Formats today's times as the time of day, and other times with their date. */
export function formatTime(timestamp: Timestamp | undefined): string {
  const date = toDate(timestamp);
  if (date === undefined) return '-';
  const today = new Date();
  return date.toDateString() === today.toDateString() ? timeFormat.format(date) : dateTimeFormat.format(date);
}

export function formatDateTime(timestamp: Timestamp | undefined): string {
  const date = toDate(timestamp);
  return date === undefined ? '-' : dateTimeFormat.format(date);
}

/** Returns how long the job has run so far, or ran from start to finish, in milliseconds. */
export function jobDurationMs(job: Job, now = Date.now()): number | undefined {
  const started = toDate(job.startedAt);
  if (started === undefined) return undefined;
  const finished = toDate(job.finishedAt);
  return (finished?.getTime() ?? now) - started.getTime();
}

const byteUnits = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];

/** Formats bytes in binary units, such as "512 MiB". */
export function formatBytes(bytes: number): string {
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < byteUnits.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${unit === 0 ? value : value.toFixed(value < 10 ? 1 : 0)} ${byteUnits[unit]}`;
}

/** Returns the job's repository as "host/path@ref", for lists. */
export function describeRepository(job: Job): string {
  const url = job.spec?.repositoryUrl ?? '';
  const parsed = URL.parse(url);
  const name = parsed === null ? url : `${parsed.host}${parsed.pathname}`.replace(/\.git$/, '');
  const ref = job.spec?.ref ?? '';
  return ref === '' ? name : `${name}@${ref}`;
}

/** Words of a command line as one string, with words that contain spaces or quotes in single quotes. */
export function formatArgv(argv: string[]): string {
  return argv.map((word) => (/^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`)).join(' ');
}

/** Describes the limits a job runs with, such as "memory 512 MiB, 256 processes, CPU 100%, ...". */
export function describeLimits(limits: JobLimits): string {
  return [
    `memory ${formatBytes(limits.memoryBytes)}`,
    `${limits.pids} processes`,
    `CPU ${limits.cpuPercent}%`,
    `files up to ${formatBytes(limits.fileSizeBytes)}`,
    `${limits.openFiles} open files`,
    `disk ${formatBytes(limits.diskBytes)}`,
  ].join(', ');
}
