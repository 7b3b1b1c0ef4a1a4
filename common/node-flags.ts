/**
 * Node flags for worker processes. A worker mostly waits for its jobs'
 * processes, so a young generation of 1 MiB per semi-space keeps it lean at
 * the cost of more frequent, short scavenges. V8's default lets it grow to
 * 16 MiB, and the resident size with it. The flag must be on the command
 * line: set at run time it does not shrink a heap that exists.
 * `--expose-gc` lets a worker that has gone idle collect garbage at once.
 */
export const workerNodeFlags = ['--max-semi-space-size=1', '--expose-gc'];
