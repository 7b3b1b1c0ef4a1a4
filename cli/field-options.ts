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
 * Returns an INVALID_ARGUMENT message with its leading API field path, such
 * as `spec.limits.pids: is 2; ...`, replaced by the CLI argument that sets the
 * field (`--pids: is 2; ...`). An entry of a list or map keeps its index or
 * key: `spec.env["1X"]: ...` becomes `--env 1X: ...`.
 */
export function withOptionName(message: string): string {
  const match = /^([a-z_.]+)(?:\[(\d+|"(?:[^"\\]|\\.)*")\])?: /.exec(message);
  if (match === null) return message;
  const option = fieldOptions.find(([path]) => path === match[1])?.[1];
  if (option === undefined) return message;
  const rest = message.slice(match[0].length);
  const entry = match[2];
  if (entry === undefined) return `${option}: ${rest}`;
  if (entry.startsWith('"')) return `${option} ${JSON.parse(entry) as string}: ${rest}`;
  return `${option} word ${Number(entry) + 1}: ${rest}`;
}
