/** Timing helpers shared by the benchmark sections. */

/** One line of the benchmark table. */
export interface BenchRow {
  section: string;
  name: string;
  value: number;
  unit: string;
  /** The figure must be at least this much; absent for informational rows. */
  target?: number;
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
    const used = process.cpuUsage(before);
    samples.push((used.user + used.system) / 1e6);
  }
  samples.sort((a, b) => a - b);
  return samples[Math.floor(samples.length / 2)] as number;
}

/** Seconds of audio processed per CPU second: "x real time per core". */
export function realTimeFactor(audioSeconds: number, work: () => void): number {
  return audioSeconds / medianCpuSeconds(work);
}
