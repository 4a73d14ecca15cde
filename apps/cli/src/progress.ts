/**
 * Progress reporting: a redrawn bar on a terminal, plain timestamped lines otherwise (logs, CI, pipes),
 * so captured output stays readable.
 */
export interface ProgressStream {
  write(chunk: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

export interface Progress {
  /** Sets the number of completed units and, optionally, what is happening now. */
  update(done: number, note?: string): void;
  /** Marks a named step done and moves on by one unit. */
  step(note: string): void;
  finish(note?: string): void;
}

export function createProgress(
  label: string,
  total: number,
  stream: ProgressStream,
  now: () => number = Date.now,
): Progress {
  if (!Number.isFinite(total) || total <= 0)
    throw new Error(`progress: total must be positive, got ${total}`);
  const start = now();
  let done = 0;
  let lastPct = -1;
  const elapsed = () => `${((now() - start) / 1000).toFixed(1)}s`;
  const draw = (note: string) => {
    const frac = Math.min(1, done / total);
    if (stream.isTTY) {
      const width = Math.max(10, Math.min(40, (stream.columns ?? 80) - label.length - note.length - 24));
      const filled = Math.round(frac * width);
      stream.write(
        `\r\x1b[2K${label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${Math.round(frac * 100)}% ${elapsed()} ${note}`,
      );
      return;
    }
    // Non-TTY: one line per whole 10% (and for every named step), never a flood.
    const pct = Math.floor(frac * 10) * 10;
    if (pct === lastPct && note === '') return;
    lastPct = pct;
    stream.write(
      `${label}: ${Math.round(frac * 100)}% (${done}/${total}) ${elapsed()}${note ? ` ${note}` : ''}\n`,
    );
  };
  return {
    update(n, note = '') {
      done = n;
      draw(note);
    },
    step(note) {
      done += 1;
      draw(note);
    },
    finish(note = 'done') {
      done = total;
      draw(note);
      if (stream.isTTY) stream.write('\n');
    },
  };
}
