// Progress on stderr while the benchmark runs: which suite, which cell of the grid, and the time left.
// The time left starts from each cell's own estimate and is corrected by how fast the run really goes.
import cliProgress from "cli-progress";
import type { Cell } from "./types.js";

function duration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  return s >= 60 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s` : `${s}s`;
}

export class Progress {
  private readonly bar: cliProgress.SingleBar | null;
  private readonly totalEstimate: number;
  private doneEstimate = 0;
  private readonly started = Date.now();
  private cellEstimate = 0;
  private cellFraction = 0;
  private payload = { suite: "", cell: "" };

  constructor(allCells: Cell[], stream: NodeJS.WriteStream = process.stderr) {
    this.totalEstimate = allCells.reduce((a, c) => a + c.estimateSeconds, 0) || 1;
    this.bar = stream.isTTY
      ? new cliProgress.SingleBar(
          {
            stream,
            format: " {bar} {percentage}% | {suite} | {cell} | ~{left} left",
            hideCursor: true,
            clearOnComplete: true,
          },
          cliProgress.Presets.shades_classic,
        )
      : null;
    this.bar?.start(100, 0, { suite: "", cell: "", left: duration(this.totalEstimate) });
  }

  /** Seconds left: the estimate still to run, scaled by the observed speed so far. */
  private left(): number {
    const done = this.doneEstimate + this.cellEstimate * this.cellFraction;
    const elapsed = (Date.now() - this.started) / 1000;
    const speed = done > 0 && elapsed > 1 ? elapsed / done : 1;
    return (this.totalEstimate - done) * speed;
  }

  startCell(suite: string, cell: Cell, index: number, count: number): void {
    this.cellEstimate = cell.estimateSeconds;
    this.cellFraction = 0;
    const label = `cell ${index + 1}/${count}: ${cell.label}`;
    this.payload = { suite, cell: label };
    if (this.bar) this.bar.update(this.percent(), { ...this.payload, left: duration(this.left()) });
    else process.stderr.write(`[${suite}] ${label} (~${duration(this.left())} left)\n`);
  }

  tick(fraction: number): void {
    this.cellFraction = Math.min(1, Math.max(0, fraction));
    this.bar?.update(this.percent(), { left: duration(this.left()) });
  }

  endCell(): void {
    this.doneEstimate += this.cellEstimate;
    this.cellEstimate = 0;
    this.cellFraction = 0;
    this.bar?.update(this.percent(), { left: duration(this.left()) });
  }

  /** Prints a line above the bar (a suite's table, a skip reason). */
  print(text: string): void {
    if (this.bar) {
      this.bar.stop();
      process.stdout.write(`${text}\n`);
      this.bar.start(100, this.percent(), { ...this.payload, left: duration(this.left()) });
    } else process.stdout.write(`${text}\n`);
  }

  stop(): void {
    this.bar?.stop();
  }

  private percent(): number {
    return Math.round(
      (100 * (this.doneEstimate + this.cellEstimate * this.cellFraction)) / this.totalEstimate,
    );
  }
}
