/**
 * The call statechart's vocabulary: what it is given (input, engines, config), what it hears (events), what it
 * keeps (context) and what it tells observers (emitted milestones, output). The grammar, which events do what in
 * which state, is call.machine.ts.
 */
import type { AudioInlet } from "./audio-inlet.js";
import type { CallConfig } from "./call-config.js";
import type { CallerSpeech } from "./caller-speech.js";
import type {
  ChatMessage,
  EngineError,
  LlmClient,
  SttEngine,
  SttEvent,
  Telephony,
  ToolSpec,
  TtsEngine,
} from "./engines.js";
import type { HeardSpeech } from "./heard-speech.js";
import type { PhraseCache } from "./phrase-cache.js";
import type { PlaybackLedger } from "./playback-ledger.js";
import type { SpeechEvent } from "./speech.actor.js";

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
  /** The actor clock's reading in ms (`createCallActor` passes its clock's), for the playback timeline. */
  now: () => number;
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
export type WordsEvent = Extract<SttCallEvent, { type: "stt.interim" | "stt.final" }>;

/** The call's own delayed event: the caller has been speaking over the agent for `bargeInSpeechMs`. */
export type SpeechBargeInEvent = { type: "caller.spokeOverAgent" };

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
  /**
   * The caller interrupted: `heard` of `sent` segments were proved played before the clear, and
   * `estimatedWords` more words are estimated to have played before the caller started talking.
   */
  | { type: "bargeIn"; turn: number; heard: number; sent: number; estimatedWords: number }
  /** The interruption held no words: the agent says again what the caller did not hear. */
  | { type: "resumed"; turn: number }
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
  /** The actor clock (ms): when audio went out and marks came back, for `heard-speech.ts`. */
  readonly now: () => number;
}

export interface CallContext {
  readonly callId: string;
  readonly deps: CallDeps;
  readonly config: CallConfig;
  readonly tools: ToolSpec[];
  callSid: string;
  streamSid: string;
  /** When Twilio's `start` came (actor clock ms): stream time 0 of the recogniser's timestamps, roughly. */
  streamStartedAt: number;
  /** Numbers every speech producer; events and marks of an earlier one are recognised and ignored. */
  generation: number;
  /** Caller turns taken so far (0 during the greeting). */
  turn: number;
  playback: PlaybackLedger;
  /**
   * What the caller had heard of the utterance they just cut, kept while the call waits to learn whether the
   * interruption held words (call.machine.ts `interrupted`); null otherwise.
   */
  cut: HeardSpeech | null;
  caller: CallerSpeech;
  /** The caller's words the agent is answering, until the answer is heard (then they join the history). */
  answering: string;
  /** Committed conversation: only what the caller said and what the marks prove they heard. */
  history: ChatMessage[];
  reprompts: number;
  endReason: EndReason | null;
}
