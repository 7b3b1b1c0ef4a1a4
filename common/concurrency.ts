/**
 * Calls `task` for each index from 0 to `count - 1`, with at most
 * `concurrency` calls in flight. No new call starts once `signal` aborts.
 * Rejects with the first error a task throws, after the calls in flight
 * have settled.
 */
export async function forEachConcurrent(
  count: number,
  concurrency: number,
  task: (index: number) => Promise<void>,
  signal?: AbortSignal,
): Promise<void> {
  let next = 0;
  let failure: { error: unknown } | undefined;
  const lane = async () => {
    while (next < count && !failure && !signal?.aborted) {
      const index = next++;
      try {
        await task(index);
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, lane));
  if (failure) throw failure.error;
}
