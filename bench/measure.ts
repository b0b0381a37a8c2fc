/** Timing helpers and the row type shared by the benchmark sections. */

/** What a figure must reach: at least (throughput, capacity) or at most (latency, lag, growth). */
export type Target = { atLeast: number } | { atMost: number };

/** One line of the benchmark table. */
export interface BenchRow {
  section: string;
  name: string;
  /** null: the figure cannot be measured on this machine; `note` says why. */
  value: number | null;
  unit: string;
  /** Absent for informational rows. */
  target?: Target;
  /** A short remark printed beside the figure (what it depends on, why it is missing). */
  note?: string;
}

/** true / false against the target; null for informational rows and figures that could not be measured. */
export function meetsTarget(row: BenchRow): boolean | null {
  if (row.target === undefined || row.value === null) return null;
  return "atLeast" in row.target ? row.value >= row.target.atLeast : row.value <= row.target.atMost;
}

/**
 * Runs `work` once to warm up the JIT, then `repeats` times, and returns the median CPU seconds (user + system)
 * per run. CPU time rather than wall time, because the figure is "per core" and the machine may be shared.
 */
export function medianCpuSeconds(work: () => void, repeats = 7): number {
  work();
  const samples: number[] = [];
  for (let i = 0; i < repeats; i++) {
    const before = process.cpuUsage();
    work();
    samples.push(cpuSecondsSince(before));
  }
  samples.sort((a, b) => a - b);
  return samples[Math.floor(samples.length / 2)] as number;
}

/** Seconds of audio processed per CPU second: "x real time per core". */
export function realTimeFactor(audioSeconds: number, work: () => void): number {
  return audioSeconds / medianCpuSeconds(work);
}

/** User + system CPU seconds of this process (every thread) since `before`. */
export function cpuSecondsSince(before: NodeJS.CpuUsage): number {
  const used = process.cpuUsage(before);
  return (used.user + used.system) / 1e6;
}

/** Nearest-rank percentile (`p` in 0..100) of values sorted ascending; NaN when there are none. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1] as number;
}

export interface Distribution {
  count: number;
  p50: number;
  p99: number;
  max: number;
}

export function distribution(values: readonly number[]): Distribution {
  const sorted = [...values].sort((a, b) => a - b);
  return {
    count: sorted.length,
    p50: percentile(sorted, 50),
    p99: percentile(sorted, 99),
    max: sorted.at(-1) ?? Number.NaN,
  };
}
