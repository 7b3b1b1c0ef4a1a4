/** Largest value of a protobuf uint32 field, such as `timeout_seconds`. */
export const maxUint32 = 4_294_967_295;

/** Limits on a JobSpec, enforced by the gateway and stated in job.proto. */
export const specLimits = {
  repositoryUrlChars: 2048,
  refChars: 255,
  argvEntries: 64,
  argvEntryBytes: 4096,
  envEntries: 64,
  envNameChars: 128,
  envTotalBytes: 64 * 1024,
  inputBytes: 1024 * 1024,
  idempotencyKeyChars: 128,
  cancelReasonChars: 256,
  listPageSizeDefault: 50,
  listPageSizeMax: 500,
} as const;

/** Limits on what a job record keeps of a worker's report, stated in job.proto. */
export const recordLimits = {
  errorMessageBytes: 4096,
} as const;

/**
 * Returns `text` when its UTF-8 form fits in `maxBytes`, otherwise its start,
 * cut at a character boundary and followed by a note of the original size,
 * in `maxBytes` at most.
 */
export function cutText(text: string, maxBytes: number): string {
  const bytes = Buffer.from(text);
  if (bytes.length <= maxBytes) return text;
  const note = ` … (cut from ${bytes.length} bytes)`;
  let end = Math.max(0, maxBytes - Buffer.byteLength(note));
  // Continuation bytes of UTF-8 start with the bits 10.
  while (end > 0 && (bytes[end] & 0xc0) === 0x80) end--;
  return bytes.subarray(0, end).toString('utf8') + note;
}

/** Largest resource limits a job may ask for; workers may cap them lower. */
export const jobLimitMaximums = {
  memoryBytes: 16 * 1024 ** 3,
  pids: 4096,
  cpuPercent: 1600,
  fileSizeBytes: 16 * 1024 ** 3,
  openFiles: 65_536,
  diskBytes: 64 * 1024 ** 3,
} as const;

/** Names of the JobLimits fields. */
export type JobLimitName = keyof typeof jobLimitMaximums;

/**
 * Smallest values of JobLimits, other than 0 for the default, that a worker
 * can apply. A cgroup needs 1 MiB of memory, and the sandbox itself needs a
 * few processes and open files. Disk use is measured every 500 ms, so a
 * smaller disk limit would not be enforced in time.
 */
export const jobLimitMinimums: Partial<Record<JobLimitName, number>> = {
  memoryBytes: 1024 * 1024,
  pids: 8,
  openFiles: 16,
  diskBytes: 1024 * 1024,
};

/** Each field of JobLimits with its name in job.proto, which messages use. */
export const jobLimitFields: ReadonlyArray<readonly [JobLimitName, string]> = [
  ['memoryBytes', 'memory_bytes'],
  ['pids', 'pids'],
  ['cpuPercent', 'cpu_percent'],
  ['fileSizeBytes', 'file_size_bytes'],
  ['openFiles', 'open_files'],
  ['diskBytes', 'disk_bytes'],
];
