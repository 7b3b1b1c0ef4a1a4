/** A version of a job record that this replica wrote. */
interface WrittenVersion {
  /** Stream sequence of the version, which is the entry's revision. */
  seq: number;
  /** Sequence of the version before it on the same key, 0 for the first. */
  previous: number;
  data: Uint8Array;
  /** When it was written, in ms since the epoch. */
  atMs: number;
}

/** Versions kept per job. Older versions of a job that changes more often are read from the stream. */
const maxVersionsPerJob = 16;

/**
 * The versions of job records that this replica wrote lately, each with the
 * sequence of the version it replaced. A Watch that needs the first version
 * at or after a sequence takes it from here when the version before the kept
 * one lies before that sequence, so no version in between exists. Otherwise
 * it reads the stream. This saves a follower of a new job the reads of the
 * versions already stored, which lie on the path from Submit to RUNNING.
 *
 * Only writes whose previous version is known are kept: a compare-and-set
 * on a revision, or a create that expected no earlier message on the key.
 */
export class RecentRecords {
  private readonly jobs = new Map<string, WrittenVersion[]>();

  /** Keeps the versions of the `maxJobs` jobs written last. */
  constructor(private readonly maxJobs: number) {}

  /** Notes that this replica stored `data` as version `seq` of `jobId`, replacing version `previous` (0: none). */
  remember(jobId: string, seq: number, previous: number, data: Uint8Array): void {
    const versions = this.jobs.get(jobId) ?? [];
    // Moved to the end, so the jobs written least lately go first.
    this.jobs.delete(jobId);
    this.jobs.set(jobId, versions);
    versions.push({ seq, previous, data, atMs: Date.now() });
    if (versions.length > maxVersionsPerJob) versions.shift();
    if (this.jobs.size > this.maxJobs) this.jobs.delete(this.jobs.keys().next().value!);
  }

  /** Drops the versions of a job whose record was deleted. */
  forget(jobId: string): void {
    this.jobs.delete(jobId);
  }

  /** Returns the last kept version of `jobId`, which may be older than the stored one, if it was written after `sinceMs`. */
  latestSince(jobId: string, sinceMs: number): Uint8Array | undefined {
    const version = this.jobs.get(jobId)?.at(-1);
    return version && version.atMs > sinceMs ? version.data : undefined;
  }

  /** Returns the first version of `jobId` at or after sequence `next`, when it is kept and known to be the first. */
  firstFrom(jobId: string, next: number): { seq: number; data: Uint8Array } | undefined {
    for (const version of this.jobs.get(jobId) ?? []) {
      if (version.previous < next && next <= version.seq) return { seq: version.seq, data: version.data };
    }
    return undefined;
  }
}
