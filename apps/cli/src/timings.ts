/**
 * Where a command's time went, for `--timings`: named phases laid end to end from process start (the origin of
 * performance.now()), so that they add up to the process's whole run up to the last lap. The first phase,
 * `startup`, is Node's own start and the imports; a phase lapped again accumulates.
 */
export interface PhaseClock {
  /** Adds the time since the previous lap (since process start, at first) to phase `name`. */
  lap(name: string): void;
  /** `timings (ms since process start): startup 120, load 270, …; total 5400`. */
  line(): string;
}

export function phaseClock(now: () => number = () => performance.now()): PhaseClock {
  const ms = new Map<string, number>();
  let last = 0;
  return {
    lap(name) {
      const t = now();
      ms.set(name, (ms.get(name) ?? 0) + t - last);
      last = t;
    },
    line() {
      const parts = [...ms].map(([name, v]) => `${name} ${Math.round(v)}`);
      return `timings (ms since process start): ${parts.join(', ')}; total ${Math.round(last)}`;
    },
  };
}

/** The `--timings` line parsed back: phase → ms, and the total; undefined when `text` holds no such line. */
export function parseTimings(text: string): { ms: Record<string, number>; total: number } | undefined {
  const m = /^timings \(ms since process start\): (.*); total (\d+)$/m.exec(text);
  if (!m) return undefined;
  const ms: Record<string, number> = {};
  for (const part of m[1].split(', ')) {
    const [name, v] = part.split(' ');
    ms[name] = Number(v);
  }
  return { ms, total: Number(m[2]) };
}
