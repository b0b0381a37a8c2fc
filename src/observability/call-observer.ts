/**
 * Watches every call for the people who run the server: metrics (turns, barge-ins, engine errors, end
 * reasons, latency per stage), one log line per state transition, the transcript at `info` (unless
 * LOG_TRANSCRIPTS=false) and a summary at hang-up, written beside the tape when tapes are on.
 */
import type { InspectionEvent, SnapshotFrom } from "xstate";
import type { callMachine } from "../../machines/call.machine.js";
import { type CallActor, realClock } from "../../machines/call-actor.js";
import type { Log } from "../logger.js";
import { LATENCY_STAGES, type LatencyStage, type Metrics } from "../metrics.js";
import type { StreamStart } from "../twilio/media-stream-session.js";
import type { CallInstrument, CallInstrumentation } from "./call-instrument.js";
import {
  type CallSummary,
  latencyMedians,
  loggableSummary,
  transcriptOf,
  writeSummary,
} from "./call-summary.js";
import { timeEngines } from "./latency-taps.js";
import { LatencyTracker, type NowClock } from "./latency-tracker.js";
import { REDACTED } from "./plain-data.js";
import { statePath } from "./state-path.js";

export interface CallObserverOptions {
  metrics: Metrics;
  /** false keeps the caller's and the agent's words out of the logs (LOG_TRANSCRIPTS). */
  logTranscripts: boolean;
  /** Where tapes are recorded (CALL_TAPES_DIR): each summary is written there as `<callSid>.summary.json`. */
  tapesDir?: string;
  /** The clock the calls run on; the real one unless replaying. */
  clock?: NowClock;
}

export function callObserver(options: CallObserverOptions): CallInstrument {
  return { attach: ({ start, log }) => new ObservedCall(start, log, options).instrumentation() };
}

type CallSnapshot = SnapshotFrom<typeof callMachine>;

/** The child that speaks replies (`invoke.id` in the statechart): its segments are the reply's. */
const REPLY_ACTOR_ID = "reply";

class ObservedCall {
  private readonly clock: NowClock;
  private readonly tracker: LatencyTracker;
  private readonly samples = Object.fromEntries(
    LATENCY_STAGES.map((stage) => [stage, [] as number[]]),
  ) as Record<LatencyStage, number[]>;
  private readonly startedAt: number;
  private readonly startedAtWall = new Date();
  private actor: CallActor | undefined;
  private endedAt: number | undefined;
  private endReason: string | undefined;
  private turns = 0;
  private interruptions = 0;
  private readonly engineFailures: CallSummary["engineFailures"] = [];
  private state = "";
  private historyLogged = 0;
  private summarized = false;
  private faults = 0;

  constructor(
    private readonly start: StreamStart,
    private readonly log: Log,
    private readonly options: CallObserverOptions,
  ) {
    this.clock = options.clock ?? realClock;
    this.startedAt = this.clock.now();
    this.tracker = new LatencyTracker(this.clock, (stage, ms) => this.observe(stage, ms));
  }

  instrumentation(): CallInstrumentation {
    return {
      wrapEngines: (engines) => timeEngines(engines, this.tracker),
      inspect: this.guarded((event: InspectionEvent) => this.inspect(event)),
      started: (actor) => this.started(actor),
      ended: () => this.ended(),
    };
  }

  /**
   * Whatever goes wrong in here stays here. It matters most for `actor.on` handlers: XState rethrows their
   * errors on a timer, which would end the process and every call in it.
   */
  private guarded<T>(handler: (value: T) => void): (value: T) => void {
    return (value) => {
      try {
        handler(value);
      } catch (error) {
        this.faults += 1;
        if (this.faults === 1) this.log.warn({ err: error }, "call observability failed; the call goes on");
      }
    };
  }

  private observe(stage: LatencyStage, ms: number): void {
    // A recogniser reporting no timestamps makes NaN; prom-client would throw on it inside an engine callback.
    if (!Number.isFinite(ms) || ms < 0) return;
    this.samples[stage].push(ms);
    this.options.metrics.latency[stage].observe(ms / 1000);
  }

  private started(actor: CallActor): void {
    this.actor = actor;
    const { metrics } = this.options;
    actor.on(
      "turnTaken",
      this.guarded(({ turn, text }) => {
        this.turns += 1;
        metrics.turns.inc();
        this.tracker.turnTaken(turn);
        this.log.info({ callId: this.start.callSid, turn, ...this.words(text) }, "caller said");
      }),
    );
    actor.on(
      "replyAudioStarted",
      this.guarded(({ turn }) => this.tracker.replyAudioStarted(turn)),
    );
    actor.on(
      "bargeIn",
      this.guarded(() => {
        this.interruptions += 1;
        metrics.bargeIns.inc();
      }),
    );
    actor.on(
      "engineFailed",
      this.guarded(({ engine, kind }) => {
        this.engineFailures.push({ engine, kind });
        metrics.engineErrors.inc({ engine, kind });
      }),
    );
    actor.on(
      "callEnded",
      this.guarded(({ reason }) => {
        this.endedAt = this.clock.now();
        this.endReason = reason;
      }),
    );
  }

  private inspect(event: InspectionEvent): void {
    // Only the call actor's own events and snapshots matter here; children report to it.
    if (event.actorRef.sessionId !== event.rootId) return;
    if (event.type === "@xstate.event") {
      const { event: sent } = event;
      if (sent.type === "twilio.mark" && "name" in sent && typeof sent.name === "string") {
        this.tracker.markEchoed(sent.name);
      } else if (sent.type === "twilio.dtmf") this.tracker.keyPressed();
      else if (sent.type === "speech.synthesizing" && actorId(event.sourceRef) === REPLY_ACTOR_ID) {
        this.tracker.replySegmentQueued();
      }
    } else if (event.type === "@xstate.snapshot") {
      this.followTransitions(event.snapshot as CallSnapshot, event.event.type);
    }
  }

  /** One log line per state change, and one per utterance of the agent once the marks say it was heard. */
  private followTransitions(snapshot: CallSnapshot, cause: string): void {
    const { turn, history } = snapshot.context;
    const state = statePath(snapshot.value);
    if (state !== this.state) {
      const from = this.state === "" ? undefined : this.state;
      this.log.info({ callId: this.start.callSid, turn, state, from, event: cause }, "call state");
      this.state = state;
    }
    for (; this.historyLogged < history.length; this.historyLogged += 1) {
      const message = history[this.historyLogged];
      if (message?.role !== "assistant" || message.content === "") continue;
      const interrupted = message.interrupted === true;
      this.log.info(
        { callId: this.start.callSid, turn, interrupted, ...this.words(message.content) },
        "agent said",
      );
    }
  }

  private words(text: string): { text: string } | { text: string; words: number } {
    if (this.options.logTranscripts) return { text };
    return { text: REDACTED, words: text.split(/\s+/).filter(Boolean).length };
  }

  private ended(): void {
    if (this.summarized) return;
    this.summarized = true;
    const summary = this.summary();
    this.options.metrics.callsEnded.inc({ reason: summary.endReason });
    this.log.info({ summary: loggableSummary(summary, this.options.logTranscripts) }, "call summary");
    const { tapesDir } = this.options;
    if (tapesDir) {
      writeSummary(tapesDir, summary).then(
        (path) => this.log.debug({ path }, "call summary written"),
        (error: unknown) => this.log.warn({ err: error, dir: tapesDir }, "could not write the call summary"),
      );
    }
  }

  private summary(): CallSummary {
    const snapshot = this.actor?.getSnapshot();
    const failed = snapshot?.status === "error";
    const endedAt = this.endedAt ?? this.clock.now();
    return {
      callSid: this.start.callSid,
      streamSid: this.start.streamSid,
      startedAt: this.startedAtWall.toISOString(),
      durationSeconds: Math.round(endedAt - this.startedAt) / 1000,
      endReason: this.endReason ?? (failed ? "failed" : (snapshot?.context.endReason ?? "callerHungUp")),
      turns: this.turns,
      interruptions: this.interruptions,
      engineFailures: this.engineFailures,
      latencyMs: latencyMedians(this.samples),
      transcript: snapshot ? transcriptOf(snapshot.context.history, snapshot.context.answering) : [],
    };
  }
}

function actorId(ref: unknown): string | undefined {
  const id = (ref as { id?: unknown } | undefined)?.id;
  return typeof id === "string" ? id : undefined;
}
