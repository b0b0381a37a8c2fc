/**
 * What the orchestrator adds to a caller's wait, over real loopback WebSockets, at 100 concurrent
 * calls and at 1.
 *
 * The server (bench-server.ts) runs in a child process with engines of fixed latency (LLM first token 150 ms,
 * TTS first audio 80 ms); this process places simulated calls on it (tools/caller `simulateCall`: Twilio's side,
 * with real-time caller audio at 50 frames/s, the agent's audio played back at real time, mark echoes). Every
 * interval is read in the server on one clock; where exactly is written in harness/call-probes.ts.
 *
 * Every answer is 3 s of audio (streamed at real time after a 100 ms head start) that the caller talks over:
 * the first interim result of the caller's next utterance passes the barge-in gate and the agent must stop
 * (`clear`); at the first silent frame after it the fake STT sends `speech_final`, and the agent answers again.
 * So every cycle gives one turn and one barge-in.
 * - 100 calls talk like people who interrupt a lot: 1 s utterances, each 1 s into the agent's answer (a cycle
 *   of about 2.3 s per call). Figures are read over 28 s once all 100 calls are up (about 1,000 turns, so the
 *   p99 rests on about ten turns, not two or three); the greetings are those of the calls that start in that
 *   time, each replacing one that hung up.
 * - 1 call takes its turns back to back (100 ms utterances, 60 ms into each answer) for as many samples as
 *   45 s give; the work per turn is the same.
 */

import { setTimeout as sleep } from "node:timers/promises";
import { FRAME_MS } from "../src/audio/frames.js";
import type { CallerUtterance } from "../tools/caller/index.js";
import type { LatencySamples } from "./harness/call-probes.js";
import type { EngineTimings } from "./harness/fixed-latency-engines.js";
import { type CallScript, type LoadOutcome, placeCalls } from "./harness/load.js";
import { type BenchServer, startBenchServer } from "./harness/server-child.js";
import { toneMulaw } from "./harness/synthetic-audio.js";
import { describeOthers, startWindow, type WindowReading } from "./harness/window.js";
import { type BenchRow, type Distribution, distribution } from "./measure.js";
import type { SectionResult } from "./section.js";

const TIMINGS: EngineTimings = {
  llmFirstTokenMs: 150,
  ttsFirstAudioMs: 80,
  ttsLeadMs: 100,
  replyAudioMs: 3000,
  paced: true,
};
const ENGINE_MS = TIMINGS.llmFirstTokenMs + TIMINGS.ttsFirstAudioMs;

const MANY = {
  concurrency: 100,
  /** Four waves of 100: the greetings of the second to the fourth fall inside the window. */
  calls: 400,
  rampMs: 3000,
  /** From the moment all 100 calls are up until the first of the last wave hang up. */
  windowMs: 28_000,
  script: script({ utteranceMs: 1000, bargeInAfterMs: 1000, hangupAfterMs: 8000 }),
};
const ONE = script({ utteranceMs: 100, bargeInAfterMs: 60, hangupAfterMs: 45_000 });

function script(options: { utteranceMs: number; bargeInAfterMs: number; hangupAfterMs: number }): CallScript {
  const utterance: CallerUtterance = {
    name: `${options.utteranceMs} ms of speech`,
    mulaw: toneMulaw(options.utteranceMs),
  };
  return {
    // More than a call can say before it hangs up.
    utterances: Array.from(
      { length: Math.ceil(options.hangupAfterMs / options.utteranceMs) },
      () => utterance,
    ),
    bargeInAfterMs: options.bargeInAfterMs,
    pauseAfterReplyMs: 200,
    hangupAfterMs: options.hangupAfterMs,
    fetchTranscript: false,
  };
}

export async function runTurnBench(): Promise<SectionResult> {
  const server = await startBenchServer({
    timings: TIMINGS,
    greetingAudioMs: 1000,
    lateFrameMs: 100,
    collectSamples: true,
    keepCallCounts: false,
  });
  try {
    // 100 calls first: the one-call figure is then taken on a warm server, as a real one would be.
    const many = await measureMany(server);
    const one = await measureOne(server);
    return { rows: rows(many, one), details: { timings: TIMINGS, many: describe(many), one: describe(one) } };
  } finally {
    await server.stop();
  }
}

interface Run {
  calls: number;
  samples: LatencySamples;
  /** For each `samples.turn`, ms of the server's garbage-collection pauses inside it. */
  turnGcMs: number[];
  load: LoadOutcome;
  window: WindowReading;
}

async function measureMany(server: BenchServer): Promise<Run> {
  let measured: Promise<{ samples: LatencySamples; turnGcMs: number[]; window: WindowReading }> | undefined;
  const load = await placeCalls({
    url: server.url,
    calls: MANY.calls,
    concurrency: MANY.concurrency,
    rampMs: MANY.rampMs,
    clock: "real-time",
    script: MANY.script,
    onRampDone: () => {
      measured = (async () => {
        await server.request("report"); // what happened while calls were still arriving is not "at 100 calls"
        const endWindow = await startWindow(server);
        await sleep(MANY.windowMs);
        const window = await endWindow();
        const report = await server.request("report");
        return { samples: report.samples, turnGcMs: report.turnGcMs, window };
      })();
    },
  });
  if (!measured) throw new Error("the 100-call run never had all its calls up");
  const window = await measured;
  return { calls: MANY.concurrency, load, ...window };
}

async function measureOne(server: BenchServer): Promise<Run> {
  await server.request("report");
  const endWindow = await startWindow(server);
  const load = await placeCalls({
    url: server.url,
    calls: 1,
    concurrency: 1,
    rampMs: 0,
    clock: "real-time",
    script: ONE,
  });
  const window = await endWindow();
  const report = await server.request("report");
  return { calls: 1, samples: report.samples, turnGcMs: report.turnGcMs, load, window };
}

function rows(many: Run, one: Run): BenchRow[] {
  const turn = (run: Run) => distribution(run.samples.turn);
  const bargeIn = (run: Run) => distribution(run.samples.bargeIn);
  const greeting = distribution(many.samples.greeting);
  /** Median time to pick up one engine reply, times the two replies of a turn. */
  const pickup = (run: Run) => 2 * distribution(run.samples.engineReplyPickup).p50;
  const ms = { unit: "ms" } as const;
  const turnNote = `the fake engines' ${ENGINE_MS} ms (and any lateness of theirs) subtracted`;
  return [
    {
      section: "turn",
      name: "turn overhead p50, 1 call",
      value: turn(one).p50,
      ...ms,
      note: `target set at 100 calls; ${pickup(one).toFixed(2)} ms of it waking the idle server for 2 engine replies`,
    },
    { section: "turn", name: "turn overhead p99, 1 call", value: turn(one).p99, ...ms },
    {
      section: "turn",
      name: "turn overhead p50, 100 calls",
      value: turn(many).p50,
      ...ms,
      target: { atMost: 2 },
      note: turnNote,
    },
    {
      section: "turn",
      name: "turn overhead p99, 100 calls",
      value: turn(many).p99,
      ...ms,
      target: { atMost: 10 },
      note: describeOthers(many.window),
    },
    {
      section: "turn",
      name: "turn overhead p99, 100 calls, the collector's pauses taken out",
      value: withoutGc(many).p99,
      ...ms,
      note: describeGc(many),
    },
    {
      section: "turn",
      name: "reply latency the caller sees, minus engines + endpointing, p50, 100 calls",
      value: callerObservedOverhead(many).p50,
      ...ms,
      note: `both socket hops and the load generator's lag included`,
    },
    {
      section: "turn",
      name: "server event-loop lag p99 while measuring 100 calls",
      value: many.window.server.lagP99Ms,
      ...ms,
      note: describeServerTime(many.window),
    },
    { section: "barge-in", name: "interim -> clear p50, 1 call", value: bargeIn(one).p50, ...ms },
    { section: "barge-in", name: "interim -> clear p99, 1 call", value: bargeIn(one).p99, ...ms },
    { section: "barge-in", name: "interim -> clear p50, 100 calls", value: bargeIn(many).p50, ...ms },
    {
      section: "barge-in",
      name: "interim -> clear p99, 100 calls",
      value: bargeIn(many).p99,
      ...ms,
      target: { atMost: 5 },
    },
    { section: "greeting", name: "start -> first frame p50, 100 calls", value: greeting.p50, ...ms },
    {
      section: "greeting",
      name: "start -> first frame p99, 100 calls",
      value: greeting.p99,
      ...ms,
      target: { atMost: 20 },
      note: `${greeting.count} calls starting among 100`,
    },
  ];
}

/** The server's CPU over the window, and how long its event loop waited for a core held by another process. */
function describeServerTime(window: WindowReading): string {
  const { cpuSeconds, wallSeconds, runQueueWaitSeconds } = window.server;
  const cpu = `server ${cpuSeconds.toFixed(1)} CPU s in ${wallSeconds.toFixed(0)} s`;
  if (runQueueWaitSeconds === null) return cpu;
  return `${cpu}; its event loop was ready but waited for a core ${(runQueueWaitSeconds * 1000).toFixed(0)} ms`;
}

/** Each turn's overhead less the garbage-collection pauses that fell inside it. */
function withoutGc(run: Run): Distribution {
  return distribution(run.samples.turn.map((ms, i) => ms - (run.turnGcMs[i] ?? 0)));
}

/** How many of the slowest 1% of turns waited on the collector, and what it did over the window. */
function describeGc(run: Run): string {
  const slowest = run.samples.turn
    .map((ms, i) => ({ ms, gcMs: run.turnGcMs[i] ?? 0 }))
    .sort((a, b) => b.ms - a.ms)
    .slice(0, Math.ceil(run.samples.turn.length / 100));
  const waited = slowest.filter((turn) => turn.gcMs > 0);
  const { gc, wallSeconds } = run.window.server;
  if (!gc) return `${waited.length} of the ${slowest.length} slowest turns waited on the collector`;
  return (
    `${waited.length} of the ${slowest.length} slowest turns waited on the collector; in ${wallSeconds.toFixed(0)} s ` +
    `${gc.scavenges} scavenges (longest ${gc.scavengeMaxMs.toFixed(1)} ms), ` +
    `${gc.majors} full collections (longest ${gc.majorMaxMs.toFixed(1)} ms)`
  );
}

/**
 * The caller's own view of each turn (last speech frame sent -> first reply audio received), minus the fake
 * engines and the one silent frame the fake STT needs to hear that the caller stopped.
 */
function callerObservedOverhead(run: Run): Distribution {
  return distribution(
    run.load.calls.flatMap((call) => call.replyLatenciesMs.map((ms) => ms - ENGINE_MS - FRAME_MS)),
  );
}

function describe(run: Run) {
  const { samples, load } = run;
  return {
    concurrentCalls: run.calls,
    callsPlaced: load.calls.length,
    failedCalls: load.calls.filter((call) => !call.ok).map((call) => call.error),
    turnOverheadMs: distribution(samples.turn),
    turnOverheadWithoutGcMs: withoutGc(run),
    turnOverheadSplitMs: {
      endOfTurnToLlmRequest: distribution(samples.turnToLlmRequest),
      llmFirstTokenToTtsRequest: distribution(samples.llmTokenToTtsRequest),
      ttsFirstAudioToWire: distribution(samples.ttsAudioToWire),
      engineReplyPickup: distribution(samples.engineReplyPickup),
    },
    fakeEnginesPostedLateMs: distribution(samples.engineLate),
    bargeInMs: distribution(samples.bargeIn),
    bargeInEvents: samples.bargeInEvents,
    greetingMs: distribution(samples.greeting),
    callerObservedOverheadMs: callerObservedOverhead(run),
    window: run.window,
    callerSendLatenessMs: { p99: load.sendLatenessP99Ms, max: load.sendLatenessMaxMs },
  };
}
