/**
 * The load generator: simulated calls (`simulateCall` of tools/caller, Twilio's side of a call: voice webhook,
 * media stream with real-time caller audio and mark echoes, status callback) placed on the bench server from
 * this process, many at once.
 *
 * Calls do not all ring in the same millisecond: the first wave starts spread over `rampMs`, and each later call
 * starts when one ends, keeping `concurrency` calls up. Each finished call is boiled down to a `CallSummary`, so
 * a thousand calls do not keep a thousand recordings alive.
 */
import { createHistogram, type RecordableHistogram } from "node:perf_hooks";
import { setTimeout as sleep } from "node:timers/promises";
import {
  type CallEvent,
  type CallerClock,
  type CallResult,
  fastForwardClock,
  realTimeClock,
  type SimulateCallOptions,
  simulateCall,
} from "../../tools/caller/index.js";

export type CallScript = Omit<SimulateCallOptions, "url" | "clock" | "signal" | "onEvent">;

export interface LoadPlan {
  url: string;
  calls: number;
  concurrency: number;
  /** The first `concurrency` calls start evenly spread over this long. */
  rampMs: number;
  script: CallScript;
  /** `fast-forward`: the caller's line runs as fast as the server answers (memory figure only). */
  clock: "real-time" | "fast-forward";
  /** Told once every call of the first wave has been placed. */
  onRampDone?: () => void;
  /** Awaited after each call ended, before the next starts on that slot; `done` counts ended calls. */
  afterCall?: (done: number) => Promise<void> | void;
  /** Playback gaps are counted while this says true. */
  measuring?: () => boolean;
}

export interface CallSummary {
  callSid: string;
  ok: boolean;
  error?: string;
  /** The caller's own view: last speech frame sent -> first reply audio received, per answered turn. */
  replyLatenciesMs: number[];
  framesSent: number;
  framesReceived: number;
  /**
   * While `measuring()` said true: times the agent's audio ran out in the middle of something it was saying
   * (new audio arrived after the caller's playback had emptied, with no mark echoed or clear in between).
   * The caller's own stalls count too: after one it catches up on its 20 ms ticks and drains its buffer early.
   */
  playbackGaps: number;
}

export interface LoadOutcome {
  calls: CallSummary[];
  /** How late the caller's frames left against their 20 ms schedule, in this process (ms). */
  sendLatenessP99Ms: number;
  sendLatenessMaxMs: number;
  wallSeconds: number;
}

export async function placeCalls(plan: LoadPlan): Promise<LoadOutcome> {
  const lateness = createHistogram();
  const calls: CallSummary[] = [];
  const startedAt = performance.now();
  let next = 0;
  let done = 0;
  let rampWaiting = Math.min(plan.concurrency, plan.calls);
  const rampStarted = () => {
    rampWaiting -= 1;
    if (rampWaiting === 0) plan.onRampDone?.();
  };

  const slot = async (index: number) => {
    const wave = Math.min(plan.concurrency, plan.calls);
    await sleep((plan.rampMs * index) / wave);
    let first = true;
    while (next < plan.calls) {
      next += 1;
      const clock = plan.clock === "fast-forward" ? fastForwardClock() : measuredClock(lateness);
      const call = placeCall(plan, clock);
      if (first) {
        first = false;
        rampStarted();
      }
      calls.push(await call);
      done += 1;
      await plan.afterCall?.(done);
    }
  };
  await Promise.all(Array.from({ length: Math.min(plan.concurrency, plan.calls) }, (_, i) => slot(i)));

  return {
    calls,
    sendLatenessP99Ms: lateness.count === 0 ? 0 : lateness.percentile(99) / 1000,
    sendLatenessMaxMs: lateness.count === 0 ? 0 : lateness.max / 1000,
    wallSeconds: (performance.now() - startedAt) / 1000,
  };
}

async function placeCall(plan: LoadPlan, clock: CallerClock): Promise<CallSummary> {
  const gaps = new PlaybackGaps(plan.measuring ?? (() => false));
  try {
    const result = await simulateCall({ ...plan.script, url: plan.url, clock, onEvent: gaps.onEvent });
    return summarize(result, gaps);
  } catch (error) {
    return {
      callSid: "",
      ok: false,
      error: error instanceof Error ? error.message : String(error),
      replyLatenciesMs: [],
      framesSent: 0,
      framesReceived: 0,
      playbackGaps: gaps.count,
    };
  }
}

function summarize(result: CallResult, gaps: PlaybackGaps): CallSummary {
  const { ended, counts } = result;
  const serverFailed = ended.by === "server" && ended.code !== 1000;
  return {
    callSid: result.callSid,
    ok: !serverFailed,
    ...(serverFailed ? { error: `server closed the stream: ${ended.code} ${ended.reason}` } : {}),
    replyLatenciesMs: result.turns.flatMap((turn) => (turn.latencyMs === null ? [] : [turn.latencyMs])),
    framesSent: counts.framesSent,
    framesReceived: counts.framesReceived,
    playbackGaps: gaps.count,
  };
}

/**
 * Agent audio that started again with no mark echoed (or clear) since it last started had run dry in between:
 * the caller heard a hole in the middle of what the agent was saying.
 */
class PlaybackGaps {
  count = 0;
  private speaking = false;

  constructor(private readonly measuring: () => boolean) {}

  readonly onEvent = (event: CallEvent): void => {
    if (event.type === "mark-echoed" || event.type === "clear") {
      this.speaking = false;
    } else if (event.type === "agent-audio-started") {
      if (this.speaking && this.measuring()) this.count += 1;
      this.speaking = true;
    }
  };
}

/** Real time, recording how late each of the caller's 20 ms ticks woke up (in microseconds). */
function measuredClock(lateness: RecordableHistogram): CallerClock {
  const clock = realTimeClock();
  return {
    now: clock.now,
    async sleepUntil(at, signal) {
      await clock.sleepUntil(at, signal);
      if (!signal?.aborted) lateness.record(Math.max(1, Math.round((clock.now() - at) * 1000)));
    },
  };
}
