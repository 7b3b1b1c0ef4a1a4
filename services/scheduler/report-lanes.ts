/**
 * Applies the reports of one worker stream: in the order they arrived for
 * each job, and for different jobs at the same time. One job's outcome,
 * which takes several writes to store, then no longer holds up the start of
 * the job the worker took next. The stream is paused while more than
 * `limit` reports wait, and resumed once half of them are applied.
 */
export class ReportLanes {
  private readonly lanes = new Map<string, Promise<void>>();
  private waiting = 0;

  constructor(
    private readonly limit: number,
    private readonly flow: { pause(): void; resume(): void },
    private readonly onError: (error: unknown) => void,
  ) {}

  /** Runs `apply` after the reports queued before it under the same `lane`. */
  add(lane: string, apply: () => Promise<void>): void {
    this.waiting++;
    if (this.waiting > this.limit) this.flow.pause();
    const next: Promise<void> = (this.lanes.get(lane) ?? Promise.resolve())
      .then(apply)
      .catch(this.onError)
      .finally(() => {
        this.waiting--;
        if (this.lanes.get(lane) === next) this.lanes.delete(lane);
        if (this.waiting <= this.limit / 2) this.flow.resume();
      });
    this.lanes.set(lane, next);
  }

  /** Resolves once every report added so far is applied. */
  async drained(): Promise<void> {
    await Promise.all([...this.lanes.values()]);
  }
}
