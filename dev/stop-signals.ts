/** A repeat of a stop signal within this time counts as the same signal. */
const repeatWindowMs = 1_000;

/**
 * Calls `stop` at the first SIGINT or SIGTERM, and `stopNow` at a later
 * one, so a second Ctrl-C ends a slow stop. npm passes a signal on to the
 * script it runs, so a signal sent to the whole process group, as `timeout`
 * and `kill -- -PGID` send it, arrives twice within moments. A repeat
 * within a second therefore counts once, or the script would skip its
 * cleanup.
 */
export function onStopSignals(stop: (signal: NodeJS.Signals) => void, stopNow: () => void): void {
  let firstAtMs: number | undefined;
  const onSignal = (signal: NodeJS.Signals) => {
    if (firstAtMs === undefined) {
      firstAtMs = Date.now();
      stop(signal);
    } else if (Date.now() - firstAtMs >= repeatWindowMs) {
      stopNow();
    }
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
}
