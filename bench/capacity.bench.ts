/**
 * How many concurrent calls this machine holds.
 *
 * Steps of N concurrent simulated calls (50, 100, 200, 250, ...) each against a fresh server process, with real
 * sockets and real-time audio both ways: the caller sends a frame every 20 ms for the whole call, and the agent
 * streams its greeting and replies at real time (the fake TTS gives 100 ms of head start, then 20 ms every
 * 20 ms). The load generator is this process; the server is a child process; both share the machine's cores.
 *
 * Each call: greeting (1.5 s), then three times: the caller speaks 1.2 s, the agent answers (150 + 80 ms of
 * engine latency, then 2 s of audio), 0.6 s of silence. About 14 s; the first wave of N calls arrives over 4 s
 * and the figures are read over 8 s while all N are up.
 *
 * A step holds when, while all N calls are up:
 * - the server's event-loop lag p99 <= 20 ms (how late a timer due every 10 ms fires);
 * - no frame was dropped: every caller frame reached STT and every agent frame sent reached the caller, counted
 *   over the whole of every call; and no call failed;
 * - no frame was late: no caller frame reached STT, and no agent frame was handed to the socket, more than
 *   100 ms behind its schedule (the caller's 20 ms clock; when the TTS engine had it due). 100 ms is the head
 *   start the agent's audio has at the caller: later than that, the caller hears a hole. Both are read in the
 *   server, so a stall of the load generator itself does not count against it. (The simulated callers also
 *   report when their playback ran dry; that is in results.json, and includes their own stalls.)
 * The figure is the largest N that holds; stepping stops at the first N that does not, after one retry (the
 * machine is shared). Memory per call is read after full garbage collections, with the calls still up.
 */
import { setTimeout as sleep } from "node:timers/promises";
import type { CallerUtterance } from "../tools/caller/index.js";
import type { CallFrameCounts } from "./harness/call-probes.js";
import type { EngineTimings } from "./harness/fixed-latency-engines.js";
import { type CallSummary, placeCalls } from "./harness/load.js";
import { type BenchServer, startBenchServer } from "./harness/server-child.js";
import type { MemoryStats, WindowStats } from "./harness/server-protocol.js";
import { toneMulaw } from "./harness/synthetic-audio.js";
import { startWindow, type WindowReading } from "./harness/window.js";
import type { BenchRow } from "./measure.js";
import type { SectionResult } from "./section.js";

const STEPS = [50, 100, 200, 250, 300, 350, 400, 450, 500, 600, 800];
const TIMINGS: EngineTimings = {
  llmFirstTokenMs: 150,
  ttsFirstAudioMs: 80,
  ttsLeadMs: 100,
  replyAudioMs: 2000,
  paced: true,
};
const RAMP_MS = 4000;
const SETTLE_MS = 1000;
const WINDOW_MS = 8000;
const MAX_LAG_P99_MS = 20;
const LATE_FRAME_MS = 100;
const TARGET_CALLS = 200;

const UTTERANCE: CallerUtterance = { name: "1.2 s of speech", mulaw: toneMulaw(1200) };

export interface StepResult {
  calls: number;
  holds: boolean;
  problems: string[];
  /** The server in the measurement window. */
  server: WindowStats;
  /** Cores other processes used in the window; null where that cannot be read. */
  otherProcessesCores: number | null;
  /** The server before any call, and with every call up, after full garbage collections. */
  idleMemory: MemoryStats;
  loadedMemory: MemoryStats;
  /** CPU of the server per call, in percent of one core. */
  cpuPerCallPercent: number;
  rssPerCallBytes: number;
  heapPerCallBytes: number;
  /** This process, which runs every simulated caller: its CPU in cores, its lag, its frames' lateness. */
  loadGenerator: { cpuCores: number; lagP99Ms: number; sendLatenessP99Ms: number; sendLatenessMaxMs: number };
  failedCalls: number;
  framesDroppedIn: number;
  framesDroppedOut: number;
  lateFramesIn: number;
  lateFramesOut: number;
  maxLatenessInMs: number;
  maxLatenessOutMs: number;
  /** Times a simulated caller's playback ran dry mid-utterance in the window (its own stalls included). */
  callerPlaybackGaps: number;
}

/** One step, on a fresh server: `calls` concurrent calls, measured while all of them are up. */
export async function runCapacityStep(calls: number): Promise<StepResult> {
  const server = await startBenchServer({
    timings: TIMINGS,
    greetingAudioMs: 1500,
    lateFrameMs: LATE_FRAME_MS,
    collectSamples: false,
    keepCallCounts: true,
  });
  try {
    return await measureStep(server, calls);
  } finally {
    await server.stop();
  }
}

export async function runCapacityBench(): Promise<SectionResult> {
  const steps: StepResult[] = [];
  let held: StepResult | undefined;
  for (const calls of STEPS) {
    let step = await runCapacityStep(calls);
    steps.push(step);
    if (!step.holds) {
      step = await runCapacityStep(calls);
      steps.push(step);
    }
    console.log(
      `[bench]   ${calls} calls: ${step.holds ? "held" : `did not hold (${step.problems.join("; ")})`}`,
    );
    if (!step.holds) break;
    held = step;
  }
  // The step that stopped the stepping (twice short), if any: earlier single misses were retried and held.
  const last = steps.at(-1);
  const stoppedAt = last && !last.holds ? last : undefined;
  return { rows: rows(held, stoppedAt), details: { timings: TIMINGS, steps } };
}

async function measureStep(server: BenchServer, calls: number): Promise<StepResult> {
  const idle = await server.request("memory");
  let window: Promise<{ reading: WindowReading; loaded: MemoryStats }> | undefined;
  let measuring = false;
  const load = await placeCalls({
    url: server.url,
    calls,
    concurrency: calls,
    rampMs: RAMP_MS,
    clock: "real-time",
    script: { utterances: [UTTERANCE, UTTERANCE, UTTERANCE], pauseAfterReplyMs: 600, fetchTranscript: false },
    measuring: () => measuring,
    onRampDone: () => {
      window = (async () => {
        await sleep(SETTLE_MS);
        const endWindow = await startWindow(server);
        measuring = true;
        await sleep(WINDOW_MS);
        measuring = false;
        const reading = await endWindow();
        return { reading, loaded: await server.request("memory") };
      })();
    },
  });
  if (!window) throw new Error(`capacity step ${calls}: the calls never were all up`);
  const { reading, loaded } = await window;
  const stats = reading.server;
  const report = await server.request("report");
  const frames = frameAccounting(load.calls, report.ended);

  const step: StepResult = {
    calls,
    holds: false,
    problems: [],
    server: stats,
    otherProcessesCores: reading.otherProcessesCores,
    idleMemory: idle,
    loadedMemory: loaded,
    cpuPerCallPercent: (100 * stats.cpuSeconds) / stats.wallSeconds / calls,
    rssPerCallBytes: (loaded.rssBytes - idle.rssBytes) / calls,
    heapPerCallBytes: (loaded.heapUsedBytes - idle.heapUsedBytes) / calls,
    loadGenerator: {
      ...reading.loadGenerator,
      sendLatenessP99Ms: load.sendLatenessP99Ms,
      sendLatenessMaxMs: load.sendLatenessMaxMs,
    },
    failedCalls: load.calls.filter((call) => !call.ok).length,
    lateFramesIn: stats.lateness.inbound.lateFrames,
    lateFramesOut: stats.lateness.outbound.lateFrames,
    maxLatenessInMs: stats.lateness.inbound.maxMs,
    maxLatenessOutMs: stats.lateness.outbound.maxMs,
    ...frames,
  };
  step.problems = problemsOf(step);
  step.holds = step.problems.length === 0;
  return step;
}

/**
 * Dropped frames: each caller's counts against the server's for the same call, over the whole call (a frame
 * lost while calls were still arriving is as lost as any).
 */
function frameAccounting(calls: readonly CallSummary[], ended: readonly CallFrameCounts[]) {
  const server = new Map(ended.map((counts) => [counts.callSid, counts]));
  let framesDroppedIn = 0;
  let framesDroppedOut = 0;
  let callerPlaybackGaps = 0;
  for (const call of calls) {
    const counts = server.get(call.callSid);
    framesDroppedIn += call.framesSent - (counts?.framesIn ?? 0);
    framesDroppedOut += (counts?.framesOut ?? 0) - call.framesReceived;
    callerPlaybackGaps += call.playbackGaps;
  }
  return { framesDroppedIn, framesDroppedOut, callerPlaybackGaps };
}

function problemsOf(step: StepResult): string[] {
  const problems: string[] = [];
  if (step.failedCalls > 0) problems.push(`${step.failedCalls} calls failed`);
  if (step.server.activeCalls !== step.calls) {
    problems.push(`only ${step.server.activeCalls} calls were up when the window closed`);
  }
  if (step.server.lagP99Ms > MAX_LAG_P99_MS) {
    problems.push(`server event-loop lag p99 ${step.server.lagP99Ms.toFixed(1)} ms`);
  }
  if (step.framesDroppedIn !== 0) problems.push(`${step.framesDroppedIn} caller frames did not reach STT`);
  if (step.framesDroppedOut !== 0)
    problems.push(`${step.framesDroppedOut} agent frames did not reach the caller`);
  if (step.lateFramesIn > 0) {
    problems.push(`${step.lateFramesIn} caller frames reached STT over ${LATE_FRAME_MS} ms late`);
  }
  if (step.lateFramesOut > 0) {
    problems.push(`${step.lateFramesOut} agent frames left over ${LATE_FRAME_MS} ms late`);
  }
  return problems;
}

function rows(held: StepResult | undefined, stoppedAt: StepResult | undefined): BenchRow[] {
  const section = "capacity";
  const others = (step: StepResult) =>
    step.otherProcessesCores === null ? "" : `others used ${step.otherProcessesCores.toFixed(1)} cores`;
  const missNote = stoppedAt
    ? `${stoppedAt.calls} did not hold: ${[...stoppedAt.problems, others(stoppedAt)].filter(Boolean).join("; ")}`
    : undefined;
  return [
    {
      section,
      name: "concurrent calls held (lag p99 <= 20 ms, no dropped or late frames)",
      value: held?.calls ?? 0,
      unit: "calls",
      target: { atLeast: TARGET_CALLS },
      ...(missNote ? { note: missNote } : {}),
    },
    {
      section,
      name: "server event-loop lag p99 at that load",
      value: held?.server.lagP99Ms ?? null,
      unit: "ms",
      target: { atMost: MAX_LAG_P99_MS },
      note: held ? others(held) : undefined,
    },
    {
      section,
      name: "dropped + late frames at that load",
      value: held
        ? held.framesDroppedIn + held.framesDroppedOut + held.lateFramesIn + held.lateFramesOut
        : null,
      unit: "frames",
      target: { atMost: 0 },
    },
    {
      section,
      name: "load generator CPU at that load (every simulated caller)",
      value: held?.loadGenerator.cpuCores ?? null,
      unit: "cores",
      note: "the bench process, sharing the machine with the server",
    },
    {
      section,
      name: "server CPU per call",
      value: held?.cpuPerCallPercent ?? null,
      unit: "% core",
      note: "fake engines' own work included",
    },
    {
      section,
      name: "server RSS per call (after GC)",
      value: held ? held.rssPerCallBytes / 2 ** 10 : null,
      unit: "KiB",
      note: held
        ? `above the idle server's ${(held.idleMemory.rssBytes / 2 ** 20).toFixed(0)} MiB`
        : undefined,
    },
    {
      section,
      name: "server heap per call (after GC)",
      value: held ? held.heapPerCallBytes / 2 ** 10 : null,
      unit: "KiB",
    },
  ];
}
