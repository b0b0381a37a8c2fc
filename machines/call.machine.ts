/**
 * One phone call as one statechart. Everything the caller hears is decided here; engines are reached only
 * through the ports in `engines.ts`, and time only through the actor clock (`after` delays and delayed
 * events), so a `SimulatedClock` replays a call decision for decision.
 *
 *   connecting ─ start ─▶ active ──────── after maxCallDuration | stt failed ──▶ hangingUp
 *     greeting ─ drained ─▶ listening
 *     listening { waiting ⇄ hearing, collectingDigits } ─ caller's turn over ─▶ replying
 *       waiting ─ speech started ─▶ hearing ─ speech ended ─▶ waiting (with words: ─▶ replying)
 *       waiting ─ idle ─▶ reprompting ─ drained ─▶ listening   (after maxReprompts: ─▶ hangingUp)
 *     replying { thinking { waitingForLlm ─▶ waitingForSpeech } ─ audio ─▶ speaking { playing ⇄ starved } }
 *       speaking ─ drained ─▶ listening
 *       thinking ─ caller talks on ─▶ listening                 (LLM aborted, words merged)
 *       error | first-token timeout | reply silence ─▶ apologizing ─ drained ─▶ listening
 *       end_call ─▶ hangingUp
 *       transfer_call ─▶ transferring { announcing ─ drained ─▶ dialing (REST) } ─▶ ended
 *     greeting | speaking | reprompting | apologizing
 *       ─ barge-in ─▶ interrupted (clear; keep only what was heard) ─▶ listening
 *       (barge-in: enough words that are not only backchannels, or, with a noise-proof VAD, speech that
 *       lasts `bargeInSpeechMs` and has no word yet or not only backchannels)
 *   hangingUp { sayingGoodbye ─ drained ─▶ endingCall (REST) } ─▶ ended
 *   any state ─ stop | socket closed ─▶ ended                   (every child stopped, every timer cancelled)
 *
 * "drained": the utterance's producer finished and Twilio echoed the mark after its last audio.
 *
 * Audio is not a statechart event, except where it changes something: inbound frames go through the audio
 * inlet to STT, and within a segment a streaming TTS's pieces go straight out between the ones the statechart
 * sees (speech.actor.ts). Leaving the state that wanted them stops both.
 */
import {
  and,
  assertEvent,
  assign,
  cancel,
  emit,
  enqueueActions,
  fromCallback,
  fromPromise,
  sendTo,
  setup,
} from "xstate";
import type { AudioInlet } from "./audio-inlet.js";
import type { CallConfig } from "./call-config.js";
import { callTools, requestedAction } from "./call-tools.js";
import {
  backchannelMatcher,
  bringsNewWords,
  type CallerSpeech,
  dropUtterance,
  endUtterance,
  hasFinishedTurn,
  hear,
  isMidUtterance,
  joinWords,
  normalizeWords,
  passesBargeInGate,
  pressKey,
  silentCaller,
  startUtterance,
  type TranscriptResult,
  takeTurn,
  utteranceText,
} from "./caller-speech.js";
import { asEngineError } from "./engine-errors.js";
import {
  type ChatMessage,
  EngineError,
  type LlmClient,
  type SttEngine,
  type SttEvent,
  type Telephony,
  type ToolSpec,
  type TtsEngine,
} from "./engines.js";
import type { PhraseCache } from "./phrase-cache.js";
import {
  acknowledge,
  emptyLedger,
  hasUnplayedAudio,
  heardText,
  isDrained,
  isStarved,
  markName,
  type PlaybackLedger,
  startProducing,
  stopProducing,
  unplayedAudioMs,
  withAudio,
  withSegment,
} from "./playback-ledger.js";
import { type SpeechEvent, type SpeechInput, type SpeechSource, speechActor } from "./speech.actor.js";

// ---------------------------------------------------------------------------------------------------------
// Public types
// ---------------------------------------------------------------------------------------------------------

export interface CallEngines {
  stt: SttEngine;
  llm: LlmClient;
  tts: TtsEngine;
  telephony: Telephony;
}

export type CallLogLevel = "debug" | "info" | "warn" | "error";
/** How the call reports what a person should read; the server maps it onto its logger. */
export type CallLog = (level: CallLogLevel, message: string, details: Record<string, unknown>) => void;

export interface CallInput {
  callId: string;
  engines: CallEngines;
  /** Where the stream route pushes the caller's audio; the `stt` child drains it into the STT session. */
  audioInlet: AudioInlet;
  config: CallConfig;
  /** Prepared audio of the fixed phrases; without it (or on a miss) they are synthesized live. */
  phrases?: PhraseCache;
  log?: CallLog;
}

/** What the stream route sends the call actor, one event per Twilio message (audio goes to the inlet). */
export type CallEvent =
  | { type: "twilio.start"; callSid: string; streamSid: string; customParameters: Record<string, string> }
  /** Twilio echoed a mark we sent: the audio before it has played, or was cleared. */
  | { type: "twilio.mark"; name: string }
  | { type: "twilio.dtmf"; digit: string }
  /** Twilio's `stop`: the caller hung up or the call left the stream. */
  | { type: "twilio.stop" }
  /** The media stream socket closed (with or without a `stop` first). */
  | { type: "socket.closed" };

/** What the STT child reports: each `SttEvent`, its type prefixed with `stt.` in the call's event space. */
export type SttCallEvent = {
  [Type in SttEvent["type"]]: Omit<Extract<SttEvent, { type: Type }>, "type"> & { type: `stt.${Type}` };
}[SttEvent["type"]];

/** The caller's words, interim or final. */
type WordsEvent = Extract<SttCallEvent, { type: "stt.interim" | "stt.final" }>;

/** The call's own delayed event: the caller has been speaking over the agent for `bargeInSpeechMs`. */
type SpeechBargeInEvent = { type: "caller.spokeOverAgent" };

export type CallMachineEvent = CallEvent | SttCallEvent | SpeechEvent | SpeechBargeInEvent;

export type EndReason = "callerHungUp" | "agentHungUp" | "idle" | "maxDuration" | "sttFailed" | "transferred";

/**
 * Observable milestones (`actor.on(type, ...)`), for metrics and tapes. They carry no time: an observer stamps
 * them with its own clock (the actor clock when replaying), so the machine never reads one.
 */
export type CallEmitted =
  /** The caller's turn is over; the agent starts answering `text`. */
  | { type: "turnTaken"; turn: number; text: string }
  /** The first audio of the reply to `turn` went out (turn latency = this minus `turnTaken`). */
  | { type: "replyAudioStarted"; turn: number }
  /** The caller interrupted: `heard` of `sent` segments were proved played before the clear. */
  | { type: "bargeIn"; turn: number; heard: number; sent: number }
  | { type: "engineFailed"; engine: EngineError["engine"]; kind: EngineError["kind"]; message: string }
  | { type: "callEnded"; reason: EndReason };

/**
 * The context without `deps`: plain data an inspector or a tape can serialise (the engines may hold sockets or
 * a whole TTS model). Pass it as `sanitizeContext` to `@statelyai/inspect`.
 */
export function inspectableContext(context: CallContext): Omit<CallContext, "deps"> {
  const { deps: _deps, ...data } = context;
  return data;
}

/** An event as an inspector or a tape should see it: audio replaced by its length. */
export function inspectableEvent<TEvent extends { type: string }>(
  event: TEvent,
): TEvent | (Omit<TEvent, "audio"> & { audio: string }) {
  if (!("audio" in event) || !(event.audio instanceof Uint8Array)) return event;
  return { ...event, audio: `${event.audio.length} bytes` };
}

export interface CallOutput {
  reason: EndReason;
  /** The conversation as the LLM would see it next (system prompt excluded). */
  history: ChatMessage[];
}

/** The call's links to the outside world: objects, not data, so inspectors and tapes leave them out. */
export interface CallDeps {
  readonly engines: CallEngines;
  readonly audioInlet: AudioInlet;
  readonly phrases: PhraseCache | undefined;
  readonly log: CallLog | undefined;
}

export interface CallContext {
  readonly callId: string;
  readonly deps: CallDeps;
  readonly config: CallConfig;
  readonly tools: ToolSpec[];
  callSid: string;
  streamSid: string;
  /** Numbers every speech producer; events and marks of an earlier one are recognised and ignored. */
  generation: number;
  /** Caller turns taken so far (0 during the greeting). */
  turn: number;
  playback: PlaybackLedger;
  caller: CallerSpeech;
  /** The caller's words the agent is answering, until the answer is heard (then they join the history). */
  answering: string;
  /** Committed conversation: only what the caller said and what the marks prove they heard. */
  history: ChatMessage[];
  reprompts: number;
  endReason: EndReason | null;
}

// ---------------------------------------------------------------------------------------------------------
// Child actors
// ---------------------------------------------------------------------------------------------------------

/** What the call asks of its STT child. */
type SttRequest = { type: "finalize" };

/** The STT session for the whole call: audio in through the inlet, results out as events. */
const sttActor = fromCallback<SttRequest, { callId: string; stt: SttEngine; inlet: AudioInlet }>(
  ({ input, sendBack, receive }) => {
    const send = (event: SttCallEvent) => sendBack(event);
    let session: ReturnType<SttEngine["open"]>;
    try {
      session = input.stt.open({ callId: input.callId, onEvent: (event) => send(toCallEvent(event)) });
    } catch (error) {
      send({ type: "stt.failed", error: asEngineError("stt", error) });
      return;
    }
    receive(() => session.finalize());
    const detach = input.inlet.attach(session);
    return () => {
      detach();
      // close() sends CloseStream and resolves when the engine let go; nobody needs to wait for that.
      session.close().catch(() => undefined);
    };
  },
);

function toCallEvent(event: SttEvent): SttCallEvent {
  return { ...event, type: `stt.${event.type}` } as SttCallEvent;
}

const hangUpActor = fromPromise<void, { telephony: Telephony; callSid: string }>(({ input }) =>
  input.telephony.hangUp(input.callSid),
);

const transferActor = fromPromise<void, { telephony: Telephony; callSid: string; to: string }>(({ input }) =>
  input.telephony.transfer(input.callSid, input.to),
);

// ---------------------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------------------

const TTS_WATCHDOG = "ttsWatchdog";
/** The pending `caller.spokeOverAgent`: armed when the caller's speech starts under the agent's voice. */
const SPEECH_BARGE_IN = "speechBargeIn";

const matchers = new WeakMap<readonly string[], (words: readonly string[]) => boolean>();
function isBackchannel(config: CallConfig): (words: readonly string[]) => boolean {
  let matcher = matchers.get(config.backchannels);
  if (!matcher) {
    matcher = backchannelMatcher(config.backchannels);
    matchers.set(config.backchannels, matcher);
  }
  return matcher;
}

function speechInput(context: CallContext, source: SpeechSource): SpeechInput {
  const { telephony } = context.deps.engines;
  return {
    callId: context.callId,
    generation: context.generation,
    source,
    tts: context.deps.engines.tts,
    phrases: context.deps.phrases,
    stream: safely(context, "sending media", (audio: Uint8Array) => telephony.sendMedia(audio)),
  };
}

function phrase(text: string): SpeechSource {
  return { kind: "phrase", text };
}

function isFromCurrentSpeech(context: CallContext, event: CallMachineEvent): boolean {
  return "generation" in event && event.generation === context.generation;
}

function transcriptOf(event: WordsEvent): TranscriptResult {
  return { text: event.text, isFinal: event.type === "stt.final", start: event.start, end: event.end };
}

function assertWords(event: CallMachineEvent): asserts event is WordsEvent {
  assertEvent(event, ["stt.interim", "stt.final"]);
}

/**
 * An outbound socket operation that cannot take the statechart down: a broken socket is logged, and the call
 * goes on until Twilio's `stop` or the socket's close event ends it.
 */
function safely<T extends unknown[]>(
  context: CallContext,
  doing: string,
  operation: (...args: T) => void,
): (...args: T) => void {
  return (...args) => {
    try {
      operation(...args);
    } catch (error) {
      failureReport(context, asEngineError("telephony", error), doing).write();
    }
  };
}

/** An engine failure as a log line (written when the action runs) and the event observers count. */
function failureReport(context: CallContext, error: EngineError, during: string) {
  const { log } = context.deps;
  const details = { callId: context.callId, engine: error.engine, kind: error.kind, err: error };
  return {
    write: () => log?.("error", `${error.engine} failed while ${during}: ${error.message}`, details),
    event: { type: "engineFailed", engine: error.engine, kind: error.kind, message: error.message } as const,
  };
}

/**
 * The TTS watchdog's error, built once per configuration. The watchdog is rearmed with every piece of audio (up
 * to 50 times a second per speaking call) and almost never fires, while constructing an Error captures a stack
 * trace: built per piece, that was ~6% of the server's CPU in `npm run bench`.
 */
const ttsTimeoutErrors = new WeakMap<CallConfig, EngineError>();

/** The watchdog's event: the current producer counts as failed if TTS owes audio this long. */
function ttsTimeout(context: CallContext): SpeechEvent {
  let error = ttsTimeoutErrors.get(context.config);
  if (!error) {
    error = new EngineError("tts", "timeout", `no audio within ${context.config.ttsTimeoutMs} ms`);
    ttsTimeoutErrors.set(context.config, error);
  }
  return { type: "speech.failed", generation: context.generation, error };
}

/**
 * The utterance is over: the caller's words and what the marks prove they heard join the history. When
 * nothing was heard, the caller's words stay pending and merge with whatever they say next.
 */
function commitHeard(context: CallContext, interrupted: boolean): Partial<CallContext> {
  const heard = heardText(context.playback);
  if (heard === "") return { playback: emptyLedger };
  const history = [...context.history];
  if (context.answering !== "") history.push({ role: "user", content: context.answering });
  history.push(
    interrupted
      ? { role: "assistant", content: heard, interrupted: true }
      : { role: "assistant", content: heard },
  );
  return { history, answering: "", playback: emptyLedger };
}

/** Twilio sends 0-9, * and #; A-D exist on some keypads. Anything else is not a key press. */
const DTMF_DIGIT = /^[0-9*#A-D]$/;

// ---------------------------------------------------------------------------------------------------------
// The machine
// ---------------------------------------------------------------------------------------------------------

const call = setup({
  types: {
    context: {} as CallContext,
    events: {} as CallMachineEvent,
    input: {} as CallInput,
    emitted: {} as CallEmitted,
    output: {} as CallOutput,
  },
  actors: { stt: sttActor, speech: speechActor, hangUp: hangUpActor, transfer: transferActor },
  delays: {
    maxCallDuration: ({ context }) => context.config.maxCallDurationMs,
    idleReprompt: ({ context }) => context.config.idleRepromptMs,
    speechEndTimeout: ({ context }) => context.config.speechEndTimeoutMs,
    dtmfEndOfTurn: ({ context }) => context.config.dtmfEndOfTurnMs,
    llmFirstTokenTimeout: ({ context }) => context.config.llmFirstTokenTimeoutMs,
    replySilenceTimeout: ({ context }) => context.config.replySilenceTimeoutMs,
    /** Counted from the start of the farewell, on top of the audio still queued before it. */
    farewellMarkTimeout: ({ context }) =>
      context.config.farewellMarkTimeoutMs + unplayedAudioMs(context.playback),
  },
  guards: {
    isCurrentSpeech: ({ context, event }) => isFromCurrentSpeech(context, event),
    playbackDrained: ({ context }) => isDrained(context.playback),
    playbackStarved: ({ context }) => isStarved(context.playback),
    /** The reply ended without a word to say (its tool calls, if any, are checked first). */
    saidNothing: ({ context }) =>
      context.playback.segments.length === 0 && context.playback.unmarkedBytes === 0,
    asksToHangUp: ({ context, event }) => {
      assertEvent(event, "speech.done");
      return requestedAction(event.toolCalls, context.tools) === "hangUp";
    },
    asksToTransfer: ({ context, event }) => {
      assertEvent(event, "speech.done");
      return requestedAction(event.toolCalls, context.tools) === "transfer";
    },
    callerFinishedTurn: ({ context }) => hasFinishedTurn(context.caller),
    callerMidUtterance: ({ context }) => isMidUtterance(context.caller),
    callerPressedKeys: ({ context }) => context.caller.digits.length > 0,
    mayReprompt: ({ context }) => context.reprompts < context.config.maxReprompts,
    isKeyPress: ({ event }) => {
      assertEvent(event, "twilio.dtmf");
      return DTMF_DIGIT.test(event.digit);
    },
    bringsNewWords: ({ context, event }) => {
      assertWords(event);
      return bringsNewWords(context.caller, transcriptOf(event));
    },
    /** While the agent speaks: the caller's utterance, with this result, passes the barge-in gate. */
    bargesIn: ({ context, event }) => {
      assertWords(event);
      return passesBargeInGate(utteranceText(hear(context.caller, transcriptOf(event))), {
        minWords: context.config.bargeInMinWords,
        isBackchannel: isBackchannel(context.config),
      });
    },
    /** Speech that lasted `bargeInSpeechMs` interrupts unless its words so far are only backchannels. */
    speechIsNotBackchannel: ({ context }) => {
      const words = normalizeWords(utteranceText(context.caller));
      return words.length === 0 || !isBackchannel(context.config)(words);
    },
  },
  actions: {
    rememberCall: assign(({ event }) => {
      assertEvent(event, "twilio.start");
      return { callSid: event.callSid, streamSid: event.streamSid };
    }),
    acknowledgeMark: assign({
      playback: ({ context, event }) => {
        assertEvent(event, "twilio.mark");
        return acknowledge(context.playback, event.name);
      },
    }),

    // Speech producers and their audio ---------------------------------------------------------------------
    startSpeech: enqueueActions(({ context, enqueue }) => {
      enqueue.cancel(TTS_WATCHDOG);
      enqueue.assign({ generation: context.generation + 1, playback: startProducing(context.playback) });
    }),
    stopSpeech: enqueueActions(({ context, enqueue }) => {
      enqueue.cancel(TTS_WATCHDOG);
      enqueue.assign({ playback: stopProducing(context.playback) });
    }),
    /** TTS owes audio: if none comes within `ttsTimeoutMs`, the producer counts as failed. */
    armTtsWatchdog: enqueueActions(({ context, enqueue }) => {
      enqueue.cancel(TTS_WATCHDOG);
      enqueue.raise(ttsTimeout(context), { id: TTS_WATCHDOG, delay: context.config.ttsTimeoutMs });
    }),
    /**
     * Sends the audio now (and counts what the producer streamed before it); more of this segment is owed
     * until its `speech.segment`, so the watchdog rearms.
     */
    playAudio: enqueueActions(({ context, event, enqueue }) => {
      assertEvent(event, "speech.audio");
      const { telephony } = context.deps.engines;
      enqueue(safely(context, "sending media", () => telephony.sendMedia(event.audio)));
      enqueue.assign({ playback: withAudio(context.playback, event.streamedBytes + event.audio.length) });
      enqueue.cancel(TTS_WATCHDOG);
      enqueue.raise(ttsTimeout(context), { id: TTS_WATCHDOG, delay: context.config.ttsTimeoutMs });
    }),
    /** The segment's audio is all out: follow it with its mark, the only proof it will have played. */
    closeSegment: enqueueActions(({ context, event, enqueue }) => {
      assertEvent(event, "speech.segment");
      const { telephony } = context.deps.engines;
      const mark = markName({
        turn: context.turn,
        segment: context.playback.segments.length,
        generation: context.generation,
      });
      enqueue.cancel(TTS_WATCHDOG);
      enqueue(safely(context, "sending a mark", () => telephony.sendMark(mark)));
      const playback = withAudio(context.playback, event.streamedBytes);
      enqueue.assign({ playback: withSegment(playback, event.text, mark) });
    }),
    finishSpeech: enqueueActions(({ context, event, enqueue }) => {
      assertEvent(event, "speech.done");
      enqueue.cancel(TTS_WATCHDOG);
      enqueue.assign({ playback: stopProducing(context.playback) });
      for (const toolCall of event.toolCalls) {
        if (!context.tools.some((tool) => tool.name === toolCall.name)) {
          const { callId } = context;
          const { log } = context.deps;
          enqueue(() =>
            log?.("warn", `ignored a call to a tool we did not offer: ${toolCall.name}`, { callId }),
          );
        }
      }
    }),
    emitReplyAudioStarted: emit(({ context }) => ({
      type: "replyAudioStarted" as const,
      turn: context.turn,
    })),

    // The caller's words -----------------------------------------------------------------------------------
    hearCaller: assign({
      caller: ({ context, event }) => {
        assertWords(event);
        return hear(context.caller, transcriptOf(event));
      },
    }),
    startUtterance: assign({ caller: ({ context }) => startUtterance(context.caller) }),
    endUtterance: assign({ caller: ({ context }) => endUtterance(context.caller) }),
    /** An utterance under the agent's voice that ended without interrupting it is forgotten. */
    dropUtterance: assign({ caller: ({ context }) => dropUtterance(context.caller) }),
    /** The end of speech did not come: the recogniser is asked for its finals, and the utterance closed. */
    finalizeStt: sendTo("stt", { type: "finalize" } satisfies SttRequest),
    /**
     * With a noise-proof VAD, speech that goes on under the agent's voice for `bargeInSpeechMs` may
     * interrupt it before any word is recognised (Whisper's first words come only with its interim).
     */
    armSpeechBargeIn: enqueueActions(({ context, enqueue }) => {
      const delay = context.config.bargeInSpeechMs;
      if (delay === null || !context.caller.speaking) return;
      enqueue.cancel(SPEECH_BARGE_IN);
      enqueue.raise({ type: "caller.spokeOverAgent" }, { id: SPEECH_BARGE_IN, delay });
    }),
    disarmSpeechBargeIn: cancel(SPEECH_BARGE_IN),
    pressKey: assign({
      caller: ({ context, event }) => {
        assertEvent(event, "twilio.dtmf");
        return pressKey(context.caller, event.digit);
      },
    }),
    takeCallerTurn: enqueueActions(({ context, enqueue }) => {
      const { text, rest } = takeTurn(context.caller);
      const turn = context.turn + 1;
      enqueue.assign({
        caller: rest,
        answering: joinWords(context.answering, text),
        turn,
        reprompts: 0,
      });
      enqueue.emit({ type: "turnTaken", turn, text });
    }),
    countReprompt: assign({ reprompts: ({ context }) => context.reprompts + 1 }),

    // History ---------------------------------------------------------------------------------------------
    commitPlayback: assign(({ context }, params: { interrupted: boolean }) =>
      commitHeard(context, params.interrupted),
    ),
    /** Barge-in: Twilio drops what it still holds; its echoes of the dropped marks will prove nothing. */
    clearPlayback: enqueueActions(({ context, enqueue }) => {
      const { playback } = context;
      const { engines, log } = context.deps;
      enqueue.emit({
        type: "bargeIn",
        turn: context.turn,
        heard: playback.played,
        sent: playback.segments.length,
      });
      if (hasUnplayedAudio(playback))
        enqueue(safely(context, "sending clear", () => engines.telephony.sendClear()));
      const details = {
        callId: context.callId,
        heardSegments: playback.played,
        sentSegments: playback.segments.length,
      };
      enqueue(() => log?.("info", "the caller interrupted the agent", details));
      enqueue.assign(commitHeard(context, true));
    }),

    // Reporting and ending ----------------------------------------------------------------------------------
    reportFailure: enqueueActions(({ context, event, enqueue }, params: { during: string }) => {
      assertEvent(event, "speech.failed");
      const report = failureReport(context, event.error, params.during);
      enqueue(report.write);
      enqueue.emit(report.event);
    }),
    reportLlmTimeout: enqueueActions(({ context, enqueue }) => {
      const ms = context.config.llmFirstTokenTimeoutMs;
      const error = new EngineError("llm", "timeout", `no first token within ${ms} ms`);
      const report = failureReport(context, error, "thinking");
      enqueue(report.write);
      enqueue.emit(report.event);
    }),
    reportReplySilence: enqueueActions(({ context, enqueue }) => {
      const ms = context.config.replySilenceTimeoutMs;
      const error = new EngineError("llm", "timeout", `the reply went silent for ${ms} ms`);
      const report = failureReport(context, error, "replying");
      enqueue(report.write);
      enqueue.emit(report.event);
    }),
    reportSttFailure: enqueueActions(({ context, event, enqueue }) => {
      assertEvent(event, "stt.failed");
      const report = failureReport(context, event.error, "listening");
      enqueue(report.write);
      enqueue.emit(report.event);
    }),
    /** A REST call failed (the invoked promise's error event). */
    reportTelephonyFailure: enqueueActions(({ context, event, enqueue }, params: { during: string }) => {
      const error = asEngineError("telephony", "error" in event ? event.error : event);
      const report = failureReport(context, error, params.during);
      enqueue(report.write);
      enqueue.emit(report.event);
    }),
    log: ({ context }, params: { level: CallLogLevel; message: string }) =>
      context.deps.log?.(params.level, params.message, { callId: context.callId }),
    setEndReason: assign({
      endReason: ({ context }, params: { reason: EndReason }) => context.endReason ?? params.reason,
    }),
    forgetEndReason: assign({ endReason: null }),
    closeStream: ({ context }) => {
      const { telephony } = context.deps.engines;
      safely(context, "closing the stream", () => telephony.closeStream())();
    },
    emitCallEnded: emit(({ context }) => ({
      type: "callEnded" as const,
      reason: context.endReason ?? "callerHungUp",
    })),
  },
});

/** Barge-in, shared by every state in which the agent's voice may be heard and cut. */
const whileAgentSpeaks = call.createStateConfig({
  on: {
    "stt.speechStarted": { actions: ["startUtterance", "armSpeechBargeIn"] },
    "stt.interim": [
      { guard: "bargesIn", target: "#call.active.interrupted", actions: "hearCaller" },
      { actions: "hearCaller" },
    ],
    "stt.final": [
      { guard: "bargesIn", target: "#call.active.interrupted", actions: "hearCaller" },
      { actions: "hearCaller" },
    ],
    "stt.speechEnded": { actions: ["dropUtterance", "disarmSpeechBargeIn"] },
    "caller.spokeOverAgent": { guard: "speechIsNotBackchannel", target: "#call.active.interrupted" },
    "twilio.dtmf": { guard: "isKeyPress", target: "#call.active.interrupted", actions: "pressKey" },
  },
});

/** A fixed phrase the caller may interrupt; once heard, the call listens again. */
function interruptiblePhrase(text: (config: CallConfig) => string) {
  return call.createStateConfig({
    entry: ["startSpeech", "armSpeechBargeIn"],
    exit: ["stopSpeech", "disarmSpeechBargeIn"],
    invoke: { src: "speech", input: ({ context }) => speechInput(context, phrase(text(context.config))) },
    always: {
      guard: "playbackDrained",
      target: "#call.active.listening",
      actions: { type: "commitPlayback", params: { interrupted: false } },
    },
    on: {
      ...whileAgentSpeaks.on,
      "speech.failed": {
        guard: "isCurrentSpeech",
        target: "#call.active.listening",
        actions: [
          { type: "reportFailure", params: { during: "speaking a phrase" } },
          { type: "commitPlayback", params: { interrupted: false } },
        ],
      },
    },
  });
}

/** A farewell phrase nobody interrupts; once Twilio proves it played (or too long passed), `next` happens. */
function farewellPhrase(text: (config: CallConfig) => string, next: string) {
  return call.createStateConfig({
    entry: "startSpeech",
    exit: "stopSpeech",
    invoke: { src: "speech", input: ({ context }) => speechInput(context, phrase(text(context.config))) },
    always: {
      guard: "playbackDrained",
      target: next,
      actions: { type: "commitPlayback", params: { interrupted: false } },
    },
    after: {
      farewellMarkTimeout: {
        target: next,
        actions: {
          type: "log",
          params: { level: "warn", message: "no mark echo after the farewell; going on" },
        },
      },
    },
    on: {
      "speech.failed": {
        guard: "isCurrentSpeech",
        target: next,
        actions: { type: "reportFailure", params: { during: "saying a farewell" } },
      },
    },
  });
}

export const callMachine = call.createMachine({
  id: "call",
  context: ({ input }) => ({
    callId: input.callId,
    deps: { engines: input.engines, audioInlet: input.audioInlet, phrases: input.phrases, log: input.log },
    config: input.config,
    tools: callTools(input.config),
    callSid: "",
    streamSid: "",
    generation: 0,
    turn: 0,
    playback: emptyLedger,
    caller: silentCaller,
    answering: "",
    history: [],
    reprompts: 0,
    endReason: null,
  }),
  invoke: {
    id: "stt",
    src: "stt",
    input: ({ context }) => ({
      callId: context.callId,
      stt: context.deps.engines.stt,
      inlet: context.deps.audioInlet,
    }),
  },
  on: {
    "twilio.stop": {
      target: ".ended",
      actions: { type: "setEndReason", params: { reason: "callerHungUp" } },
    },
    "socket.closed": {
      target: ".ended",
      actions: { type: "setEndReason", params: { reason: "callerHungUp" } },
    },
    "stt.failed": {
      target: ".ended",
      actions: ["reportSttFailure", { type: "setEndReason", params: { reason: "sttFailed" } }],
    },
    "twilio.mark": { actions: "acknowledgeMark" },
    // Whatever state the agent is in, the current producer's audio goes out and its segments get marks.
    "speech.synthesizing": { guard: "isCurrentSpeech", actions: "armTtsWatchdog" },
    "speech.audio": { guard: "isCurrentSpeech", actions: "playAudio" },
    "speech.segment": { guard: "isCurrentSpeech", actions: "closeSegment" },
    "speech.done": { guard: "isCurrentSpeech", actions: "finishSpeech" },
  },
  initial: "connecting",
  states: {
    connecting: {
      on: { "twilio.start": { target: "active", actions: "rememberCall" } },
    },

    active: {
      initial: "greeting",
      after: {
        maxCallDuration: {
          target: "hangingUp",
          actions: [
            { type: "setEndReason", params: { reason: "maxDuration" } },
            { type: "log", params: { level: "info", message: "maximum call duration reached" } },
          ],
        },
      },
      on: {
        "stt.failed": {
          target: "hangingUp",
          actions: ["reportSttFailure", { type: "setEndReason", params: { reason: "sttFailed" } }],
        },
        // Wherever the agent is, the caller's speech is tracked; the states below decide what it means.
        "stt.speechStarted": { actions: "startUtterance" },
        "stt.speechEnded": { actions: "endUtterance" },
      },
      states: {
        greeting: interruptiblePhrase((config) => config.phrases.greeting),

        listening: {
          initial: "waiting",
          on: {
            "stt.interim": { actions: "hearCaller" },
            "stt.final": { actions: "hearCaller" },
            "twilio.dtmf": { guard: "isKeyPress", target: ".collectingDigits", actions: "pressKey" },
          },
          states: {
            /** The caller is silent. Silence for `idleRepromptMs` gets a reprompt, then a goodbye. */
            waiting: {
              always: [
                { guard: "callerFinishedTurn", target: "#call.active.replying", actions: "takeCallerTurn" },
                { guard: "callerMidUtterance", target: "hearing" },
              ],
              after: {
                idleReprompt: [
                  { guard: "mayReprompt", target: "#call.active.reprompting", actions: "countReprompt" },
                  {
                    target: "#call.hangingUp",
                    actions: { type: "setEndReason", params: { reason: "idle" } },
                  },
                ],
              },
            },
            /**
             * The caller is talking: no reprompt however long they talk. Their turn ends when the
             * recogniser says their speech ended (`waiting` then takes it if it had words). New words restart
             * the safety net, which only a recogniser that lost the end of speech reaches (a repeated interim
             * is no sign of life: Deepgram repeats them during silence).
             */
            hearing: {
              on: {
                "stt.interim": [
                  { guard: "bringsNewWords", target: "hearing", reenter: true, actions: "hearCaller" },
                  { actions: "hearCaller" },
                ],
                "stt.final": [
                  { guard: "bringsNewWords", target: "hearing", reenter: true, actions: "hearCaller" },
                  { actions: "hearCaller" },
                ],
                "stt.speechEnded": { target: "waiting", actions: "endUtterance" },
              },
              after: {
                speechEndTimeout: {
                  target: "waiting",
                  actions: [
                    "finalizeStt",
                    "endUtterance",
                    {
                      type: "log",
                      params: {
                        level: "warn",
                        message:
                          "the recogniser never said the caller stopped speaking; taking what it heard",
                      },
                    },
                  ],
                },
              },
            },
            /** Key presses gather into one turn until the keypad stays quiet for `dtmfEndOfTurnMs`. */
            collectingDigits: {
              on: {
                "stt.interim": { guard: "bringsNewWords", target: "hearing", actions: "hearCaller" },
                "stt.final": { guard: "bringsNewWords", target: "hearing", actions: "hearCaller" },
              },
              after: { dtmfEndOfTurn: { target: "#call.active.replying", actions: "takeCallerTurn" } },
            },
          },
        },

        replying: {
          entry: "startSpeech",
          exit: "stopSpeech",
          invoke: {
            id: "reply",
            src: "speech",
            input: ({ context }) =>
              speechInput(context, {
                kind: "reply",
                llm: context.deps.engines.llm,
                messages: [
                  { role: "system", content: context.config.systemPrompt },
                  ...context.history,
                  { role: "user", content: context.answering },
                ],
                tools: context.tools,
              }),
          },
          on: {
            "speech.failed": {
              guard: "isCurrentSpeech",
              target: "apologizing",
              actions: { type: "reportFailure", params: { during: "replying" } },
            },
            "speech.done": [
              {
                guard: and(["isCurrentSpeech", "asksToHangUp"]),
                target: "#call.hangingUp",
                actions: ["finishSpeech", { type: "setEndReason", params: { reason: "agentHungUp" } }],
              },
              {
                guard: and(["isCurrentSpeech", "asksToTransfer"]),
                target: "transferring",
                actions: "finishSpeech",
              },
              {
                guard: and(["isCurrentSpeech", "saidNothing"]),
                target: "apologizing",
                actions: [
                  "finishSpeech",
                  { type: "log", params: { level: "warn", message: "the LLM replied with nothing to say" } },
                ],
              },
              { guard: "isCurrentSpeech", actions: "finishSpeech" },
            ],
          },
          initial: "thinking",
          states: {
            thinking: {
              initial: "waitingForLlm",
              on: {
                "speech.audio": {
                  guard: "isCurrentSpeech",
                  target: "speaking",
                  actions: ["playAudio", "emitReplyAudioStarted"],
                },
                // The caller talks on: leaving `replying` aborts the LLM; their words merge into one turn.
                "stt.interim": {
                  guard: "bringsNewWords",
                  target: "#call.active.listening",
                  actions: "hearCaller",
                },
                "stt.final": {
                  guard: "bringsNewWords",
                  target: "#call.active.listening",
                  actions: "hearCaller",
                },
                "twilio.dtmf": {
                  guard: "isKeyPress",
                  target: "#call.active.listening.collectingDigits",
                  actions: "pressKey",
                },
              },
              states: {
                waitingForLlm: {
                  on: { "llm.firstChunk": { guard: "isCurrentSpeech", target: "waitingForSpeech" } },
                  after: {
                    llmFirstTokenTimeout: { target: "#call.active.apologizing", actions: "reportLlmTimeout" },
                  },
                },
                /** The LLM is streaming; the first segment is being cut or synthesized. */
                waitingForSpeech: {
                  after: {
                    replySilenceTimeout: {
                      target: "#call.active.apologizing",
                      actions: "reportReplySilence",
                    },
                  },
                },
              },
            },
            speaking: {
              entry: "armSpeechBargeIn",
              exit: "disarmSpeechBargeIn",
              always: {
                guard: "playbackDrained",
                target: "#call.active.listening",
                actions: { type: "commitPlayback", params: { interrupted: false } },
              },
              on: whileAgentSpeaks.on,
              initial: "playing",
              states: {
                playing: { always: { guard: "playbackStarved", target: "starved" } },
                /** Everything sent has played and the reply is not over: the caller hears silence. */
                starved: {
                  on: {
                    "speech.audio": { guard: "isCurrentSpeech", target: "playing", actions: "playAudio" },
                  },
                  after: {
                    replySilenceTimeout: {
                      target: "#call.active.apologizing",
                      actions: "reportReplySilence",
                    },
                  },
                },
              },
            },
          },
        },

        reprompting: interruptiblePhrase((config) => config.phrases.reprompt),

        /** A failure or timeout: say sorry (after whatever was already sent) instead of leaving dead air. */
        apologizing: interruptiblePhrase((config) => config.phrases.apology),

        /** Barge-in: clear Twilio's buffer, keep only what was heard, and listen to the caller. */
        interrupted: {
          entry: "clearPlayback",
          always: [
            { guard: "callerPressedKeys", target: "listening.collectingDigits" },
            { target: "listening" },
          ],
        },

        transferring: {
          on: { "stt.failed": { actions: "reportSttFailure" } },
          initial: "announcing",
          states: {
            announcing: farewellPhrase((config) => config.phrases.transfer, "dialing"),
            dialing: {
              // Twilio may stop the stream before the REST call returns: the call ends as transferred either way.
              entry: { type: "setEndReason", params: { reason: "transferred" } },
              invoke: {
                src: "transfer",
                input: ({ context }) => ({
                  telephony: context.deps.engines.telephony,
                  callSid: context.callSid,
                  to: context.config.transferNumber ?? "",
                }),
                onDone: "#call.ended",
                onError: {
                  target: "#call.active.apologizing",
                  actions: [
                    { type: "reportTelephonyFailure", params: { during: "transferring" } },
                    "forgetEndReason",
                  ],
                },
              },
            },
          },
        },
      },
    },

    hangingUp: {
      // Losing the recogniser now changes nothing: the goodbye needs no ears.
      on: { "stt.failed": { actions: "reportSttFailure" } },
      initial: "sayingGoodbye",
      states: {
        sayingGoodbye: farewellPhrase((config) => config.phrases.goodbye, "endingCall"),
        endingCall: {
          invoke: {
            src: "hangUp",
            input: ({ context }) => ({ telephony: context.deps.engines.telephony, callSid: context.callSid }),
            onDone: "#call.ended",
            onError: {
              target: "#call.ended",
              actions: { type: "reportTelephonyFailure", params: { during: "hanging up" } },
            },
          },
        },
      },
    },

    ended: {
      type: "final",
      entry: ["closeStream", "emitCallEnded"],
    },
  },
  output: ({ context }) => ({ reason: context.endReason ?? "callerHungUp", history: context.history }),
});
