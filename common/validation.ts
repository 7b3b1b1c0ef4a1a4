import { invalidArgument } from './errors.js';
import { formatBytes } from './config.js';
import { isJobId } from './ids.js';
import { jobLimitFields, jobLimitMaximums, jobLimitMinimums, specLimits } from './limits.js';
import { JobState, type JobSpec } from '../gen/faas/v1/job.js';

export interface SpecPolicy {
  /** Accept `http:` repository URLs as well as `https:`. */
  allowHttp: boolean;
  /** Largest timeout a job may ask for, in seconds. */
  maxTimeoutSeconds: number;
}

const envNamePattern = /^[A-Za-z_][A-Za-z0-9_]*$/;
const idempotencyKeyPattern = /^[A-Za-z0-9._:-]+$/;
const shaPattern = /^[0-9a-f]{40}$/;

/** Throws INVALID_ARGUMENT naming the field unless `spec` is acceptable. */
export function validateSpec(spec: JobSpec | undefined, policy: SpecPolicy): asserts spec is JobSpec {
  if (!spec) throw invalidArgument('spec', 'is required; send a JobSpec with at least repository_url');
  validateRepositoryUrl(spec.repositoryUrl, policy);
  validateRef(spec.ref);
  validateArgv('spec.command', spec.command);
  validateArgv('spec.args', spec.args);
  validateEnv(spec.env);

  if (spec.input.length > specLimits.inputBytes) {
    throw invalidArgument('spec.input', `is ${spec.input.length} bytes; the limit is ${specLimits.inputBytes} bytes`);
  }
  if (spec.timeoutSeconds > policy.maxTimeoutSeconds) {
    throw invalidArgument(
      'spec.timeout_seconds',
      `is ${spec.timeoutSeconds}; use 1 to ${policy.maxTimeoutSeconds}, or 0 for the default`,
    );
  }
  validateLimits(spec);
  // The scheduler checks retry.max_attempts, because its operator sets the limit.
  if (spec.idempotencyKey.length > specLimits.idempotencyKeyChars) {
    throw invalidArgument('spec.idempotency_key', `must be at most ${specLimits.idempotencyKeyChars} characters`);
  }
  if (spec.idempotencyKey !== '' && !idempotencyKeyPattern.test(spec.idempotencyKey)) {
    throw invalidArgument('spec.idempotency_key', 'may contain only letters, digits and . _ : -');
  }
}

function validateLimits(spec: JobSpec): void {
  if (!spec.limits) return;
  for (const [key, name] of jobLimitFields) {
    const value = spec.limits[key];
    const maximum = jobLimitMaximums[key];
    const minimum = jobLimitMinimums[key] ?? 1;
    // Sizes in bytes and in binary units.
    const show = (count: number) => (name.endsWith('_bytes') ? `${count} (${formatBytes(count)})` : String(count));
    if (value > maximum) {
      throw invalidArgument(
        `spec.limits.${name}`,
        `is ${show(value)}; a job may request at most ${show(maximum)}, which a worker may lower to its own maximum, or 0 for the default`,
      );
    }
    if (value !== 0 && value < minimum) {
      throw invalidArgument(`spec.limits.${name}`, `is ${show(value)}; the minimum is ${show(minimum)}, or 0 for the default`);
    }
  }
}

export function validateRepositoryUrl(value: string, policy: SpecPolicy): void {
  const field = 'spec.repository_url';
  if (value === '') throw invalidArgument(field, 'is required, for example https://example.com/team/repo.git');
  if (value.length > specLimits.repositoryUrlChars) {
    throw invalidArgument(field, `must be at most ${specLimits.repositoryUrlChars} characters`);
  }
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw invalidArgument(field, `"${value}" is not a URL; use https://host/path/repo.git`);
  }
  const schemes = policy.allowHttp ? ['https:', 'http:'] : ['https:'];
  if (!schemes.includes(url.protocol)) {
    const accepted = schemes.map((scheme) => scheme.replace(':', '')).join(' or ');
    throw invalidArgument(field, `scheme "${url.protocol.replace(':', '')}" is not supported; use ${accepted}`);
  }
  if (url.username !== '' || url.password !== '') {
    throw invalidArgument(field, 'must not contain credentials; use a public repository');
  }
  if (url.hostname === '') throw invalidArgument(field, 'must name a host');
  if (/[\s\\]/.test(value) || /[\u0000-\u001f\u007f]/.test(value)) {
    throw invalidArgument(field, 'must not contain whitespace, backslashes or control characters');
  }
  if (!value.toLowerCase().startsWith(`${url.protocol}//`)) {
    throw invalidArgument(field, `"${value.slice(0, 64)}" lacks the // after the scheme; use ${url.protocol}//host/path/repo.git`);
  }
  // git adds its own query to the URL, and a query or fragment can carry a credential into the job record.
  if (url.search !== '' || url.hash !== '' || value.includes('?') || value.includes('#')) {
    throw invalidArgument(field, 'must not contain a query (?) or a fragment (#); give the repository\'s plain URL');
  }
}

/**
 * Checks a branch, tag or commit name with the rules of
 * `git check-ref-format`, plus a ban on a leading "-" so that a ref is never
 * read as an option.
 */
export function validateRef(ref: string): void {
  const field = 'spec.ref';
  if (ref === '' || shaPattern.test(ref)) return;
  if (ref.length > specLimits.refChars) throw invalidArgument(field, `must be at most ${specLimits.refChars} characters`);
  const problem = refProblem(ref);
  if (problem) throw invalidArgument(field, `"${ref}" is not a valid branch, tag or commit: ${problem}`);
}

function refProblem(ref: string): string | undefined {
  if (ref.startsWith('-')) return 'it must not start with "-"';
  if (/[\u0000-\u0020\u007f~^:?*[\\]/.test(ref)) return 'it must not contain spaces, control characters or ~ ^ : ? * [ \\';
  if (ref.includes('..')) return 'it must not contain ".."';
  if (ref.includes('@{')) return 'it must not contain "@{"';
  if (ref === '@') return 'it must not be "@"';
  if (ref.startsWith('/') || ref.endsWith('/') || ref.includes('//')) return 'it must not start or end with "/" or contain "//"';
  if (ref.endsWith('.')) return 'it must not end with "."';
  for (const part of ref.split('/')) {
    if (part.startsWith('.')) return 'no part may start with "."';
    if (part.endsWith('.lock')) return 'no part may end with ".lock"';
  }
  return undefined;
}

function validateArgv(field: string, argv: string[]): void {
  if (argv.length > specLimits.argvEntries) {
    throw invalidArgument(field, `has ${argv.length} entries; the limit is ${specLimits.argvEntries}`);
  }
  argv.forEach((entry, index) => {
    if (Buffer.byteLength(entry) > specLimits.argvEntryBytes) {
      throw invalidArgument(`${field}[${index}]`, `must be at most ${specLimits.argvEntryBytes} bytes`);
    }
    if (entry.includes('\u0000')) throw invalidArgument(`${field}[${index}]`, 'must not contain NUL bytes');
  });
  if (field === 'spec.command' && argv.length > 0 && argv[0] === '') {
    throw invalidArgument('spec.command[0]', 'must name a program');
  }
}

function validateEnv(env: Record<string, string>): void {
  const entries = Object.entries(env);
  if (entries.length > specLimits.envEntries) {
    throw invalidArgument('spec.env', `has ${entries.length} variables; the limit is ${specLimits.envEntries}`);
  }
  let total = 0;
  for (const [name, value] of entries) {
    if (name.length > specLimits.envNameChars || !envNamePattern.test(name)) {
      throw invalidArgument(`spec.env["${name.slice(0, 40)}"]`, 'name must be letters, digits and _, not start with a digit, and be at most 128 characters');
    }
    if (value.includes('\u0000')) throw invalidArgument(`spec.env["${name}"]`, 'value must not contain NUL bytes');
    total += Buffer.byteLength(name) + Buffer.byteLength(value);
  }
  if (total > specLimits.envTotalBytes) {
    throw invalidArgument('spec.env', `names and values add up to ${total} bytes; the limit is ${specLimits.envTotalBytes}`);
  }
}

/** Counts the characters of `text` as people do: code points, not UTF-16 units. */
export function characterCount(text: string): number {
  let count = 0;
  for (const _ of text) count++;
  return count;
}

/** Throws INVALID_ARGUMENT unless a cancel reason fits its limit. */
export function validateCancelReason(reason: string): void {
  const count = characterCount(reason);
  if (count > specLimits.cancelReasonChars) {
    throw invalidArgument('reason', `has ${count} characters; the limit is ${specLimits.cancelReasonChars}`);
  }
}

/** Throws INVALID_ARGUMENT unless `state` is a JobState value; 0 means every state. */
export function validateStateFilter(state: number): void {
  if (state < 0 || JobState[state] === undefined) {
    throw invalidArgument('state', `${state} is not a job state; use one of ${jobStateNames()}, or leave it unset for every state`);
  }
}

function jobStateNames(): string {
  return Object.keys(JobState).filter((name) => name.startsWith('JOB_STATE_') && name !== 'JOB_STATE_UNSPECIFIED').join(', ');
}

export function validateJobId(jobId: string, field = 'job_id'): void {
  if (jobId === '') throw invalidArgument(field, 'is required');
  if (!isJobId(jobId)) {
    throw invalidArgument(field, `"${jobId.slice(0, 64)}" is not a job id; ids are 26 characters of 0-9 and a-z, as returned by Submit`);
  }
}
