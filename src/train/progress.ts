/**
 * A one-line progress bar on stderr (redrawn in place on a terminal, one line per `every`
 * iterations otherwise): iterations, it/s, loss terms, λs, learning rate and ETA.
 */
export class Progress {
  private readonly started = Date.now();
  private readonly startIteration: number;
  private lastLine = 0;

  constructor(
    private readonly total: number,
    startIteration: number,
    private readonly stream: NodeJS.WriteStream = process.stderr,
    private readonly every = 10,
  ) {
    this.startIteration = startIteration;
  }

  update(iteration: number, epoch: number, epochs: number, fields: Record<string, number | string>): void {
    const done = iteration - this.startIteration;
    const seconds = (Date.now() - this.started) / 1000;
    const rate = done / Math.max(seconds, 1e-9);
    const eta = rate > 0 ? (this.total - iteration) / rate : NaN;
    const width = 20;
    const filled = Math.round((width * iteration) / this.total);
    const bar = `${'█'.repeat(filled)}${'░'.repeat(width - filled)}`;
    const terms = Object.entries(fields)
      .map(([k, v]) => `${k} ${typeof v === 'number' ? format(v) : v}`)
      .join('  ');
    const line = `${bar} it ${iteration}/${this.total} ep ${epoch + 1}/${epochs}  ${rate >= 1 ? `${rate.toFixed(2)} it/s` : `${(1 / Math.max(rate, 1e-9)).toFixed(1)} s/it`}  ${terms}  ETA ${duration(eta)}`;
    if (this.stream.isTTY) {
      this.stream.write(`\r${line.slice(0, (this.stream.columns || 200) - 1)}\x1b[K`);
    } else if (iteration - this.lastLine >= this.every || iteration === this.total) {
      this.stream.write(`${line}\n`);
      this.lastLine = iteration;
    }
  }

  /** Prints a message on its own line without garbling the bar. */
  note(message: string): void {
    this.stream.write(this.stream.isTTY ? `\r\x1b[K${message}\n` : `${message}\n`);
  }

  end(): void {
    if (this.stream.isTTY) this.stream.write('\n');
  }
}

function format(v: number): string {
  if (v === 0) return '0';
  return Math.abs(v) >= 100 || Math.abs(v) < 1e-3 ? v.toExponential(2) : v.toPrecision(3);
}

export function duration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}
