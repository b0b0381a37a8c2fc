/**
 * A measurement window: the server's own readings (lag, CPU, late frames) plus what this process (every
 * simulated caller) and the rest of the machine did meanwhile, so a figure says how much it had to share.
 */
import { monitorEventLoopDelay } from "node:perf_hooks";
import { cpuSecondsSince } from "../measure.js";
import { watchMachineLoad } from "./machine-load.js";
import type { BenchServer } from "./server-child.js";
import type { WindowStats } from "./server-protocol.js";

export interface WindowReading {
  server: WindowStats;
  loadGenerator: { cpuCores: number; lagP99Ms: number };
  /** Cores other processes (other people's tests, the OS) used on average; null where it cannot be read. */
  otherProcessesCores: number | null;
}

const LAG_RESOLUTION_MS = 10;

export async function startWindow(server: BenchServer): Promise<() => Promise<WindowReading>> {
  await server.request("window-start");
  const lag = monitorEventLoopDelay({ resolution: LAG_RESOLUTION_MS });
  lag.enable();
  const cpu = process.cpuUsage();
  const startedAt = performance.now();
  const machineCores = watchMachineLoad();
  return async () => {
    const loadCores = cpuSecondsSince(cpu) / ((performance.now() - startedAt) / 1000);
    const allCores = machineCores();
    lag.disable();
    const stats = await server.request("window-end");
    const serverCores = stats.cpuSeconds / stats.wallSeconds;
    return {
      server: stats,
      loadGenerator: {
        cpuCores: loadCores,
        lagP99Ms: Math.max(0, lag.percentile(99) / 1e6 - LAG_RESOLUTION_MS),
      },
      otherProcessesCores: allCores === null ? null : Math.max(0, allCores - serverCores - loadCores),
    };
  };
}

/** "other processes used 0.8 cores meanwhile", or nothing where that cannot be read. */
export function describeOthers(reading: WindowReading): string {
  return reading.otherProcessesCores === null
    ? ""
    : `other processes used ${reading.otherProcessesCores.toFixed(1)} cores meanwhile`;
}
