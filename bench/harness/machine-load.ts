/**
 * How busy the whole machine was over a stretch of time, from /proc/stat (Linux), so a figure taken while other
 * people's processes held the cores can say so. Elsewhere there is nothing to read and the answer is null.
 */
import { readFileSync } from "node:fs";
import { cpus } from "node:os";

interface CpuTimes {
  busy: number;
  total: number;
}

/** Starts watching; the function returned gives the cores in use, on average, since then. */
export function watchMachineLoad(): () => number | null {
  const before = readCpuTimes();
  return () => {
    const after = readCpuTimes();
    if (!before || !after || after.total === before.total) return null;
    return ((after.busy - before.busy) / (after.total - before.total)) * cpus().length;
  };
}

/** The first line of /proc/stat: jiffies spent per state, summed over every core. */
function readCpuTimes(): CpuTimes | undefined {
  let line: string | undefined;
  try {
    line = readFileSync("/proc/stat", "utf8").split("\n", 1)[0];
  } catch {
    return undefined;
  }
  const fields = line?.trim().split(/\s+/).slice(1).map(Number) ?? [];
  // user nice system idle iowait irq softirq steal (guest time is already inside user)
  const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = fields;
  const busy = user + nice + system + irq + softirq + steal;
  return { busy, total: busy + idle + iowait };
}
