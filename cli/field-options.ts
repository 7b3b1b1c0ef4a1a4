import { splitFieldMessage } from '../common/field-message.js';

/** API field paths that gateway messages start with, and the CLI argument that sets each. */
const fieldOptions: Array<[string, string]> = [
  ['spec.repository_url', 'REPOSITORY_URL'],
  ['spec.ref', '--ref'],
  ['spec.command', 'COMMAND'],
  ['spec.env', '--env'],
  ['spec.input', '--input'],
  ['spec.timeout_seconds', '--timeout'],
  ['spec.idempotency_key', '--idempotency-key'],
  ['spec.limits.memory_bytes', '--memory'],
  ['spec.limits.cpu_percent', '--cpu'],
  ['spec.limits.pids', '--pids'],
  ['spec.limits.open_files', '--open-files'],
  ['spec.limits.file_size_bytes', '--file-size'],
  ['spec.limits.disk_bytes', '--disk'],
  ['spec.retry.max_attempts', '--max-attempts'],
  ['reason', '--reason'],
  ['state', '--state'],
  ['page_token', '--page-token'],
];

/**
 * Returns `text` with each API field path in it that a CLI option sets
 * replaced by that option, as in a job's failure message: "raise
 * spec.limits.memory_bytes to give it more" becomes "raise --memory to give
 * it more".
 */
export function withOptionNames(text: string): string {
  return text.replace(/\bspec(?:\.[a-z_]+)+\b/g, (path) => {
    const option = fieldOptions.find(([known]) => known === path)?.[1];
    return option?.startsWith('--') ? option : path;
  });
}

/**
 * Returns an INVALID_ARGUMENT message with its leading API field path, such
 * as `spec.limits.pids: is 2; ...`, replaced by the CLI argument that sets the
 * field (`--pids: is 2; ...`). An entry of a list or map keeps its index or
 * key: `spec.env["1X"]: ...` becomes `--env 1X: ...`.
 */
export function withOptionName(message: string): string {
  const parts = splitFieldMessage(message);
  const option = parts && fieldOptions.find(([path]) => path === parts.path)?.[1];
  if (!parts || option === undefined) return message;
  if (parts.key !== undefined) return `${option} ${parts.key}: ${parts.text}`;
  if (parts.index !== undefined) return `${option} word ${parts.index + 1}: ${parts.text}`;
  return `${option}: ${parts.text}`;
}
