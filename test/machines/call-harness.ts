/**
 * One call actor on a simulated clock with fake engines, and the moves a test makes: Twilio messages, STT
 * results, mark echoes, time passing. Every move settles the actor's promise chains before returning, so a
 * test reads as a script of what happened on the line.
 */

import { createCallActor } from "../../machines/call-actor.js";
import { type CallConfig, callConfig, forRecogniser } from "../../machines/call-config.js";
import type { CallEmitted, CallLogLevel } from "../../machines/call-types.js";
import type { ChatMessage } from "../../machines/engines.js";
import type { DeepgramEvent } from "../../src/engines/deepgram/messages.js";
import { DeepgramSpeechTurns } from "../../src/engines/deepgram/speech-turns.js";
import {
  CountingClock,
  cachedPhrases,
  FakeStt,
  FakeTts,
  RecordingTelephony,
  ScriptedLlm,
  type ScriptedReply,
} from "./call-fakes.js";

export const CALL_SID = "CA0123456789abcdef0123456789abcdef";
export const STREAM_SID = "MZ0123456789abcdef0123456789abcdef";

export interface TestCallOptions {
  config?: Parameters<typeof callConfig>[0];
  /** Fixed phrases prepared before the call (default true); false makes them go through live TTS. */
  cachePhrases?: boolean;
  /** The recogniser is VAD-backed (`speechStartIsReliable`), as Whisper is; default false (Deepgram). */
  vadRecogniser?: boolean;
  /** How long the agent's fake voice lasts per character (default 0: one byte, an eighth of a ms). */
  speechMsPerChar?: number;
}

/** Lets every pending promise callback and microtask of the fakes and the speech actor run. */
export async function settle(): Promise<void> {
  for (let i = 0; i < 5; i += 1) await new Promise<void>((resolve) => setImmediate(resolve));
}

export function startTestCall(options: TestCallOptions = {}) {
  const clock = new CountingClock();
  const stt = new FakeStt(options.vadRecogniser ?? false);
  const llm = new ScriptedLlm();
  const tts = new FakeTts(options.speechMsPerChar);
  const telephony = new RecordingTelephony();
  const config: CallConfig = forRecogniser(callConfig(options.config), stt);
  const phrases =
    options.cachePhrases === false
      ? undefined
      : cachedPhrases(Object.values(config.phrases), options.speechMsPerChar);
  const logs: { level: CallLogLevel; message: string; details: Record<string, unknown> }[] = [];
  const emitted: CallEmitted[] = [];
  /** The type of every event the call actor itself received, in order. */
  const received: string[] = [];
  const { actor, audioInlet } = createCallActor({
    callId: "call-1",
    engines: { stt, llm, tts, telephony },
    config,
    phrases,
    log: (level, message, details) => logs.push({ level, message, details }),
    clock,
    inspect: (inspection) => {
      if (inspection.type === "@xstate.event" && inspection.actorRef === actor) {
        received.push(inspection.event.type);
      }
    },
  });
  actor.on("*", (event) => emitted.push(event));
  actor.start();

  /**
   * Stream time (s) of the next STT result, so results never overlap. A speech start (and a VAD engine's
   * words) catch it up with the actor clock (the call started at 0), so their times say when the caller spoke.
   */
  let sttTime = 0;
  const sttNow = () => {
    sttTime = Math.max(sttTime, clock.now() / 1000);
    return sttTime;
  };

  const call = {
    actor,
    audioInlet,
    clock,
    stt,
    llm,
    tts,
    telephony,
    config,
    logs,
    emitted,
    received,

    /** The active state as a dotted path, e.g. `active.replying.speaking`. */
    state(): string {
      return statePath(actor.getSnapshot().value);
    },
    history(): ChatMessage[] {
      return actor.getSnapshot().context.history;
    },
    /** What went out since the last `sent()`. */
    sent(): string[] {
      return telephony.take();
    },

    async start(): Promise<void> {
      actor.send({ type: "twilio.start", callSid: CALL_SID, streamSid: STREAM_SID, customParameters: {} });
      await settle();
    },
    /** Twilio played the next `count` pending marks (all by default) and echoes them. */
    async playMarks(count = telephony.pendingMarks.length): Promise<void> {
      for (const name of telephony.pendingMarks.splice(0, count)) actor.send({ type: "twilio.mark", name });
      await settle();
    },
    async dtmf(digit: string): Promise<void> {
      actor.send({ type: "twilio.dtmf", digit });
      await settle();
    },
    async stop(): Promise<void> {
      actor.send({ type: "twilio.stop" });
      await settle();
    },
    /** Lets what is already in flight happen, then `ms` pass on the actor clock. */
    async advance(ms: number): Promise<void> {
      await settle();
      clock.advance(ms);
      await settle();
    },

    // Deepgram's results, through the adapter's real mapping to the call's STT events ----------------------

    /** An interim result: the recogniser's current guess for the utterance in progress. */
    async interim(text: string): Promise<void> {
      await result(text, { isFinal: false, speechFinal: false, advance: false });
    },
    /** A final result the endpointer did not close (more may follow). */
    async final(text: string): Promise<void> {
      await result(text, { isFinal: true, speechFinal: false, advance: true });
    },
    /** A final result with `speech_final`: the endpointer heard a pause. */
    async speechFinal(text: string): Promise<void> {
      await result(text, { isFinal: true, speechFinal: true, advance: true });
    },
    async utteranceEnd(): Promise<void> {
      await deepgram({ type: "utteranceEnd", lastWordEnd: sttNow() });
    },
    async speechStarted(): Promise<void> {
      await deepgram({ type: "speechStarted", timestamp: sttNow() });
    },

    // A VAD-segmented recogniser (Whisper): the call's STT events as such an engine emits them ------------

    async vad(event: "speechStarted" | "speechEnded"): Promise<void> {
      stt.emit({ type: event, at: sttNow() });
      await settle();
    },
    /** Words of the open segment (`interim`) or of the whole segment once it closed (`final`). */
    async vadWords(type: "interim" | "final", text: string): Promise<void> {
      const start = sttNow();
      stt.emit({ type, text, start, end: start + 1, confidence: 0.9 });
      if (type === "final") sttTime += 1;
      await settle();
    },

    /** The caller says `text` in one breath: speech_final closes it. */
    async says(text: string): Promise<void> {
      await call.speechFinal(text);
    },
    /** The LLM answers the pending request with these chunks, then ends. */
    async replies(...chunks: string[]): Promise<ScriptedReply> {
      const reply = llm.current;
      for (const chunk of chunks) reply.text(chunk);
      reply.end();
      await settle();
      return reply;
    },
  };

  const turns = new DeepgramSpeechTurns((event) => stt.emit(event));
  async function deepgram(event: DeepgramEvent) {
    turns.accept(event);
    await settle();
  }
  async function result(text: string, kind: { isFinal: boolean; speechFinal: boolean; advance: boolean }) {
    turns.accept({
      type: "results",
      text,
      isFinal: kind.isFinal,
      speechFinal: kind.speechFinal,
      start: sttTime,
      duration: 1,
      confidence: text === "" ? 0 : 0.99,
    });
    if (kind.advance) sttTime += 1;
    await settle();
  }

  return call;
}

export type TestCall = ReturnType<typeof startTestCall>;

function statePath(value: unknown): string {
  if (typeof value === "string") return value;
  const [key, child] = Object.entries(value as Record<string, unknown>)[0] ?? [];
  return key === undefined ? "" : `${key}.${statePath(child)}`;
}

/** A started call whose greeting Twilio has played: listening, nothing pending, `sent()` empty. */
export async function greetedCall(options?: TestCallOptions): Promise<TestCall> {
  const call = startTestCall(options);
  await call.start();
  await call.playMarks();
  call.sent();
  return call;
}
