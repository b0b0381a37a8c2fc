/** What the bench process and its server child say to each other over the IPC channel. */
import type { CallFrameCounts, LatencySamples, WindowLateness } from "./call-probes.js";
import type { EngineTimings } from "./fixed-latency-engines.js";
import type { GcSummary } from "./gc-pauses.js";

export interface BenchServerOptions {
  timings: EngineTimings;
  /** Length of the prepared greeting (the other fixed phrases last one second). */
  greetingAudioMs: number;
  /** A frame later than this behind its schedule (either way through the server) counts as late. */
  lateFrameMs: number;
  /** Keep latency samples (off where memory is measured: they would grow with the calls). */
  collectSamples: boolean;
  /** Keep every ended call's frame counts until the next report (off where memory is measured). */
  keepCallCounts: boolean;
  /** Environment settings of the server (src/config.ts) beyond the defaults. */
  env?: Record<string, string>;
}

export interface WindowStats {
  wallSeconds: number;
  /** CPU seconds (user + system, every thread) the server used in the window. */
  cpuSeconds: number;
  /** Event-loop lag in ms: how late a timer due every 10 ms fired (p50, p99, max over the window). */
  lagP50Ms: number;
  lagP99Ms: number;
  lagMaxMs: number;
  rssBytes: number;
  heapUsedBytes: number;
  activeCalls: number;
  lateness: WindowLateness;
  /**
   * Seconds the server's main thread was ready to run but waited for a core (Linux schedstat): the event loop's
   * time lost to every other thread on the machine (the load generator's, and the server's own GC and timer
   * threads). null where it cannot be read.
   */
  runQueueWaitSeconds: number | null;
  /** Garbage-collection pauses in the window; null where samples are not collected. */
  gc: GcSummary | null;
}

export interface MemoryStats {
  rssBytes: number;
  heapUsedBytes: number;
  /** The part of `heapUsedBytes` that is compiled code (it grows as the JIT optimizes more functions). */
  codeBytes: number;
  heapTotalBytes: number;
  externalBytes: number;
  arrayBuffersBytes: number;
  activeCalls: number;
}

export interface ServerReport {
  samples: LatencySamples;
  /** For each `samples.turn`, ms of garbage-collection pause inside the spans it was counted over. */
  turnGcMs: number[];
  ended: CallFrameCounts[];
  activeCalls: number;
}

/** Each command and what the server answers. */
export interface ServerCommands {
  /** Starts a measurement window: lag histogram, CPU and inbound lateness counters from zero. */
  "window-start": null;
  "window-end": WindowStats;
  /** Latency samples and ended calls' counts since the last report. */
  report: ServerReport;
  /** Memory after full garbage collections. */
  memory: MemoryStats;
}

export type ServerCommand = keyof ServerCommands;

export interface CommandMessage {
  id: number;
  command: ServerCommand;
}

export type ServerMessage =
  | { type: "ready"; url: string }
  | { type: "answer"; id: number; result: ServerCommands[ServerCommand] }
  | { type: "failed"; id: number; error: string };
