import type { OutputStream } from './io.js';

const frames = ['|', '/', '-', '\\'];
const clearLine = '\r\x1b[2K';

/**
 * A spinner with a status text on one terminal line, redrawn in place. It
 * draws only when the stream is a TTY, so piped and redirected output never
 * contains it. Call `clear()` before writing other text to the same terminal,
 * and `stop()` when done. After `clear()`, the next tick draws the line again.
 */
export class ProgressLine {
  private readonly enabled: boolean;
  private text = '';
  private frame = 0;
  private drawn = false;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly stream: OutputStream,
    private readonly intervalMs = 100,
  ) {
    this.enabled = stream.isTTY === true;
  }

  /** Sets the status text and starts the spinner if it is not running. */
  update(text: string): void {
    this.text = text;
    if (!this.enabled) return;

    if (this.timer === undefined) {
      this.timer = setInterval(() => this.draw(), this.intervalMs);
      this.timer.unref();
    }
    this.draw();
  }

  /** Erases the line. The spinner draws it again on its next tick. */
  clear(): void {
    if (!this.drawn) return;
    this.stream.write(clearLine);
    this.drawn = false;
  }

  /** Stops the spinner and erases its line. */
  stop(): void {
    if (this.timer !== undefined) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
    this.clear();
  }

  private draw(): void {
    this.frame = (this.frame + 1) % frames.length;
    // A line wider than the terminal wraps, and clearLine erases only its last row.
    const width = this.stream.columns || 80;
    const text = this.text.length > width - 3 ? this.text.slice(0, Math.max(0, width - 3)) : this.text;
    this.stream.write(`${clearLine}${frames[this.frame]} ${text}`);
    this.drawn = true;
  }
}
