/**
 * Describes a job's attempt number for people, with the attempts that the
 * platform cut short itself, which do not count against the job's allowed
 * attempts: "2 (1 cut short by the platform, not counted)". Shared by the
 * CLI and the web page.
 */
export function describeAttempt(job: { attempt: number; interruptedAttempts: number }): string {
  if (job.interruptedAttempts === 0) return String(job.attempt);
  return `${job.attempt} (${job.interruptedAttempts} cut short by the platform, not counted)`;
}
