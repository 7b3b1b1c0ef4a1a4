/**
 * Names of the JetStream streams, consumers, buckets and subjects. A prefix
 * keeps deployments (and tests) that share one NATS server apart.
 */
export interface NatsNames {
  jobStream: string;
  jobSubject: string;
  dispatchConsumer: string;
  logStream: string;
  logSubjectPrefix: string;
  logSubject(jobId: string): string;
  jobsBucket: string;
  /** Subjects the job bucket republishes each stored record version to, one per job. */
  recordSubjectPrefix: string;
  recordSubject(jobId: string): string;
  indexBucket: string;
  blobsBucket: string;
  /** KV bucket of job results up to a size, one key `<jobId>.<attempt>` each; larger ones go to the object store. */
  resultsBucket: string;
  cancelSubjectPrefix: string;
  cancelSubject(jobId: string): string;
  /** Subject on which every scheduler replica replies with its worker pool (faas.scheduler.v1.GetPoolResponse). */
  poolSubject: string;
}

export const natsPrefixPattern = /^[A-Za-z][A-Za-z0-9_]{0,31}$/;

export function natsNames(prefix: string): NatsNames {
  if (!natsPrefixPattern.test(prefix)) {
    throw new Error(`NATS prefix "${prefix}" is invalid: use 1 to 32 letters, digits or _, starting with a letter`);
  }
  const upper = prefix.toUpperCase();
  const lower = prefix.toLowerCase();
  return {
    jobStream: `${upper}_JOBS`,
    jobSubject: `${lower}.jobs.queue`,
    dispatchConsumer: `${lower}_dispatch`,
    logStream: `${upper}_LOGS`,
    logSubjectPrefix: `${lower}.logs`,
    logSubject: (jobId) => `${lower}.logs.${jobId}`,
    jobsBucket: `${lower}_jobs`,
    recordSubjectPrefix: `${lower}.records`,
    recordSubject: (jobId) => `${lower}.records.${jobId}`,
    indexBucket: `${lower}_index`,
    blobsBucket: `${lower}_blobs`,
    resultsBucket: `${lower}_results`,
    cancelSubjectPrefix: `${lower}.cancel`,
    cancelSubject: (jobId) => `${lower}.cancel.${jobId}`,
    poolSubject: `${lower}.pools`,
  };
}
