/**
 * Applies one worker stream's reports in arrival order per job, and the
 * reports of different jobs concurrently. Pauses the stream above `limit`
 * waiting reports and resumes it at half.
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
