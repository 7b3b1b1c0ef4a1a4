import { JobSpec } from '../../gen/web/faas/v1/job';
import { parseEnvironment, parseWholeNumber, repositoryUrlProblem, splitCommandLine, type FieldErrors, type JobFormValues } from './form-fields.js';

export const emptyJobForm: JobFormValues = {
  repositoryUrl: '',
  ref: '',
  command: '',
  args: '',
  env: '',
  input: '',
  timeoutSeconds: '',
  memoryMiB: '',
};

/** Turns the form into a JobSpec, or returns the errors of the fields that cannot be parsed. */
export function buildJobSpec(values: JobFormValues, idempotencyKey: string): { spec: JobSpec } | { errors: FieldErrors } {
  const errors: FieldErrors = {};

  const urlProblem = repositoryUrlProblem(values.repositoryUrl);
  if (urlProblem !== undefined) errors.repositoryUrl = urlProblem;

  const command = splitCommandLine(values.command);
  if ('error' in command) errors.command = command.error;

  const env = parseEnvironment(values.env);
  if ('error' in env) errors.env = env.error;

  const timeoutSeconds = parseWholeNumber(values.timeoutSeconds);
  if (timeoutSeconds === undefined) errors.timeoutSeconds = 'Enter a whole number of seconds, or leave it empty for the default';

  const memoryMiB = parseWholeNumber(values.memoryMiB);
  if (memoryMiB === undefined) errors.memoryMiB = 'Enter a whole number of MiB, or leave it empty for the default';

  if (Object.keys(errors).length > 0 || 'error' in command || 'error' in env || timeoutSeconds === undefined || memoryMiB === undefined) return { errors };

  // Arguments are taken line by line as typed; blank lines are skipped.
  const args = values.args.split(/\r?\n/).filter((line) => line.trim() !== '');
  const spec = JobSpec.create({
    repositoryUrl: values.repositoryUrl.trim(),
    ref: values.ref.trim(),
    command: command.words,
    args,
    env: env.env,
    input: new TextEncoder().encode(values.input),
    timeoutSeconds,
    idempotencyKey,
    limits: memoryMiB === 0 ? undefined : { memoryBytes: memoryMiB * 1024 * 1024, pids: 0, cpuPercent: 0, fileSizeBytes: 0, openFiles: 0, diskBytes: 0 },
  });
  return { spec };
}
