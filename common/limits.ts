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
  maxAttempts: 20,
  listPageSizeDefault: 50,
  listPageSizeMax: 500,
} as const;

/** Largest resource limits a job may ask for; workers may cap them lower. */
export const jobLimitMaximums = {
  memoryBytes: 16 * 1024 ** 3,
  pids: 4096,
  cpuPercent: 1600,
  fileSizeBytes: 16 * 1024 ** 3,
  openFiles: 65_536,
  diskBytes: 64 * 1024 ** 3,
} as const;
