/**
 * One call as the stream route runs it (the call factory, its instruments, the call actor) with fake engines
 * and a recording socket, and a scripted conversation that touches every stage the observability measures:
 * the greeting, a clean turn, a turn the caller interrupts, a turn whose TTS fails, the caller's hang-up.
 */
import { callConfig } from "../../machines/call-config.js";
import { createCallFactory } from "../../src/call-factory.js";
import { createLogger, type Log } from "../../src/logger.js";
import type { CallInstrument } from "../../src/observability/call-instrument.js";
import type { CallHandler, StreamOutput, StreamStart } from "../../src/twilio/media-stream-session.js";
import { cachedPhrases, FakeStt, FakeTts, ScriptedLlm } from "../machines/call-fakes.js";
import { settle } from "../machines/call-harness.js";
import { LogCapture } from "../support/test-server.js";
import { sid } from "../support/twilio-messages.js";

/** The socket side of the call: what the call sent, and marks not yet echoed. Methods are handed out unbound. */
export class RecordingOutput implements StreamOutput {
  readonly media: Uint8Array[] = [];
  readonly pendingMarks: string[] = [];
  clears = 0;
  closed = false;
  sendMedia = (mulaw: Uint8Array): void => {
    this.media.push(mulaw);
  };
  sendMark = (name: string): void => {
    this.pendingMarks.push(name);
  };
  sendClear = (): void => {
    this.clears += 1;
    // Twilio echoes every pending mark at once after a clear.
  };
  close = (): void => {
    this.closed = true;
  };
}

export const REPLIES = {
  first: "Sure, I can help with that. What is your address?",
  interrupted: "Let me check the schedule. We have slots in the morning and in the afternoon.",
  failing: "I will book the first slot for you.",
} as const;

/**
 * The actor clock's reading held at 0 (its timers still run in real time): the call places its barge-in cut
 * by the time audio had been playing, and this script's "Twilio has played none of it" must hold however
 * slowly the host runs between sending a reply and the caller cutting in.
 */
const heldClock: CallInstrument = {
  attach: () => ({ wrapClock: (clock) => ({ ...clock, now: () => 0 }) }),
};

export function startSimulatedCall(instruments: CallInstrument[]) {
  const config = callConfig();
  const stt = new FakeStt();
  const llm = new ScriptedLlm();
  const tts = new FakeTts();
  const logs = new LogCapture();
  const log = createLogger({ level: "debug", secrets: [], destination: logs }) as unknown as Log;
  const factory = createCallFactory({
    engines: { stt, llm, tts },
    phrases: cachedPhrases(Object.values(config.phrases)),
    config,
    instruments: [heldClock, ...instruments],
  });
  const start: StreamStart = {
    callSid: sid("CA"),
    streamSid: sid("MZ"),
    from: "+15551230001",
    to: "+15551230002",
    customParameters: { from: "+15551230001", to: "+15551230002", token: "stream-token-secret" },
  };
  const output = new RecordingOutput();
  const handler: CallHandler = factory(start, output, log);
  /** Stream time (s) of the caller's audio sent so far: STT results are placed inside it. */
  let audioSeconds = 0;

  const call = {
    start,
    output,
    stt,
    llm,
    tts,
    logs,
    config,
    /** Twilio played everything sent so far and echoes its marks. */
    async playMarks(): Promise<void> {
      for (const name of output.pendingMarks.splice(0)) handler.onMark(name);
      await settle();
    },
    /** The caller talks for `seconds` (50 frames a second), then the recogniser reports `text` as final. */
    async says(text: string, seconds = 1): Promise<void> {
      const frame = new Uint8Array(160).fill(0x7f);
      for (let i = 0; i < seconds * 50; i += 1) handler.onAudio(frame);
      const start = audioSeconds;
      audioSeconds += seconds;
      stt.emit({ type: "speechStarted", at: start });
      stt.emit({ type: "final", text, start, end: audioSeconds, confidence: 0.98 });
      stt.emit({ type: "speechEnded", at: audioSeconds });
      await settle();
    },
    /** An interim result while the agent speaks: enough words to pass the barge-in gate. */
    async interrupts(text: string): Promise<void> {
      stt.emit({ type: "speechStarted", at: audioSeconds });
      stt.emit({ type: "interim", text, start: audioSeconds, end: audioSeconds + 0.5, confidence: 0.9 });
      await settle();
    },
    async replies(text: string): Promise<void> {
      llm.current.text(text).end();
      await settle();
    },
    async hangsUp(): Promise<void> {
      handler.onStop();
      handler.onClose();
      await settle();
    },

    /** The whole scripted conversation. */
    async converse(): Promise<void> {
      await settle();
      await call.playMarks(); // the greeting
      await call.says("Hi, I need an electrician.");
      await call.replies(REPLIES.first);
      await call.playMarks();
      await call.says("Can you come tomorrow?");
      // The reply is out but Twilio has played none of it when the caller cuts in.
      await call.replies(REPLIES.interrupted);
      await call.interrupts("actually wait a moment");
      await call.says("actually wait a moment, what about today?");
      tts.failOn(REPLIES.failing);
      await call.replies(REPLIES.failing);
      await call.playMarks(); // the apology
      await call.hangsUp();
    },
  };
  return call;
}

export type SimulatedCall = ReturnType<typeof startSimulatedCall>;
