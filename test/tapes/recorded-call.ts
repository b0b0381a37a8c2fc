/**
 * A call actor driven step by step with the machine tests' fake engines (test/machines/call-fakes.ts) while a
 * tape recorder writes it down, on a simulated clock. Its timers may be made to fire late, as real ones do
 * under load, to test that replay keeps the recorded order of timers and inputs.
 */
import { createCallActor, type ReadableClock } from "../../machines/call-actor.js";
import { type CallConfig, callConfig } from "../../machines/call-config.js";
import { EngineError } from "../../machines/engines.js";
import { AudioFingerprints } from "../../src/tapes/audio-fingerprints.js";
import { ReplayClock } from "../../src/tapes/replay-clock.js";
import { parseTape, type Tape } from "../../src/tapes/tape-format.js";
import { CallTapeRecorder } from "../../src/tapes/tape-recorder.js";
import { MemoryTapeSink } from "../../src/tapes/tape-sinks.js";
import { cachedPhrases, FakeStt, FakeTts, RecordingTelephony, ScriptedLlm } from "../machines/call-fakes.js";

const CALL_SID = "CA0123456789abcdef0123456789abcdef";
const STREAM_SID = "MZ0123456789abcdef0123456789abcdef";

/** A clock whose timers fire `lateMs` after they are due, as a busy event loop makes them. */
class LateClock implements ReadableClock {
  constructor(
    private readonly inner: ReplayClock,
    private readonly lateMs: number,
  ) {}
  now(): number {
    return this.inner.now();
  }
  setTimeout(fn: (...args: unknown[]) => void, timeout: number): unknown {
    return this.inner.setTimeout(fn, timeout + this.lateMs);
  }
  clearTimeout(id: unknown): void {
    this.inner.clearTimeout(id as number);
  }
}

async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

export function startRecordedCall(
  options: { config?: Parameters<typeof callConfig>[0]; timersLateMs?: number } = {},
) {
  // Time moves timer by timer, as on a real clock: each fires at its own due time.
  const time = new ReplayClock();
  const clock = options.timersLateMs ? new LateClock(time, options.timersLateMs) : time;
  const stt = new FakeStt();
  const llm = new ScriptedLlm();
  const tts = new FakeTts();
  const telephony = new RecordingTelephony();
  const config: CallConfig = callConfig(options.config);
  const phrases = cachedPhrases(Object.values(config.phrases));
  const sink = new MemoryTapeSink();
  const fingerprints = new AudioFingerprints();
  const recorder = new CallTapeRecorder({ sink, clock: time, fingerprints });
  recorder.writeHeader({
    callId: "call-1",
    callSid: CALL_SID,
    streamSid: STREAM_SID,
    recordedAt: "2025-01-01T00:00:00.000Z",
    config,
    engines: { stt: stt.name, llm: llm.name, tts: tts.name },
    phrases: Object.fromEntries(
      Object.values(config.phrases).map((text) => {
        const audio = phrases.get(text) as Uint8Array;
        return [text, { bytes: audio.length, sha: fingerprints.of(audio) }];
      }),
    ),
  });
  const { actor } = createCallActor({
    callId: "call-1",
    engines: recorder.wrapEngines({ stt, llm, tts, telephony }),
    config,
    phrases,
    clock: recorder.wrapClock(clock),
    inspect: (event) => recorder.inspect(event),
  });
  actor.start();
  let sttTime = 0;
  let speaking = false;

  /** Words as a streaming recogniser reports them; a final ends the utterance. */
  const transcript = async (text: string, isFinal: boolean) => {
    if (!speaking) stt.emit({ type: "speechStarted", at: sttTime });
    speaking = true;
    const words = { text, start: sttTime, end: sttTime + 1, confidence: 0.9 };
    if (isFinal) {
      stt.emit({ type: "final", ...words });
      stt.emit({ type: "speechEnded", at: words.end });
      speaking = false;
      sttTime += 1;
    } else stt.emit({ type: "interim", ...words });
    await settle();
  };

  const call = {
    actor,
    llm,
    tts,
    telephony,
    async start(): Promise<void> {
      actor.send({ type: "twilio.start", callSid: CALL_SID, streamSid: STREAM_SID, customParameters: {} });
      await settle();
    },
    /** Twilio echoes every pending mark. */
    async playMarks(): Promise<void> {
      for (const name of telephony.pendingMarks.splice(0)) actor.send({ type: "twilio.mark", name });
      await settle();
    },
    async dtmf(digit: string): Promise<void> {
      actor.send({ type: "twilio.dtmf", digit });
      await settle();
    },
    async sttFails(): Promise<void> {
      stt.emit({
        type: "failed",
        error: new EngineError("stt", "closed", "Deepgram closed the stream (1011)"),
      });
      await settle();
    },
    async advance(ms: number): Promise<void> {
      await settle();
      const target = time.now() + ms;
      for (let due = time.nextDue(); due !== undefined && due <= target; due = time.nextDue()) {
        time.fireNext();
        await settle();
      }
      time.moveTo(target);
      await settle();
    },
    says: (text: string) => transcript(text, true),
    interim: (text: string) => transcript(text, false),
    async replies(...chunks: string[]): Promise<void> {
      const reply = llm.current;
      for (const chunk of chunks) reply.text(chunk);
      reply.end();
      await settle();
    },
    async stop(): Promise<void> {
      actor.send({ type: "twilio.stop" });
      await settle();
    },
    /** Ends the recording (as the stream's close does) and reads the tape back. */
    tape(): Tape {
      if (actor.getSnapshot().status === "active") actor.send({ type: "socket.closed" });
      recorder.end("stream closed");
      return parseTape(sink.text, "recorded-call");
    },
  };
  return call;
}

/**
 * A greeting, two turns (the second answer cut by a barge-in after its first sentence was heard), an idle
 * reprompt, a third turn, a key press answered as a turn, and a hang-up by the caller.
 */
export async function recordConversation(options?: Parameters<typeof startRecordedCall>[0]): Promise<Tape> {
  const call = startRecordedCall(options);
  await call.start();
  await call.advance(2000);
  await call.playMarks();
  await call.advance(700);
  await call.says("Hi, I have a breaker that keeps tripping.");
  await call.advance(400);
  await call.replies("I'm sorry to hear that. ", "Which room is it in?");
  await call.advance(2500);
  await call.playMarks();
  await call.advance(900);
  await call.says("The kitchen.");
  await call.advance(300);
  await call.replies(
    "Kitchen breakers often trip from a kettle and a toaster at once. ",
    "Try one at a time.",
  );
  await call.advance(1200);
  // Twilio echoes the first segment's mark: only that sentence was heard when the caller talks over the rest.
  const firstMark = call.telephony.pendingMarks.shift();
  if (firstMark) call.actor.send({ type: "twilio.mark", name: firstMark });
  await call.advance(200);
  await call.interim("Oh wait");
  await call.advance(600);
  await call.says("Oh wait, it trips with nothing plugged in.");
  await call.advance(350);
  await call.replies("Then please switch it off and we will send an electrician.");
  await call.advance(3000);
  await call.playMarks();
  await call.advance(9000);
  await call.playMarks();
  await call.advance(1500);
  await call.says("Yes, I'm here.");
  await call.advance(250);
  await call.replies("Great, an electrician will call you back today.");
  await call.advance(2000);
  await call.playMarks();
  await call.advance(500);
  await call.dtmf("5");
  await call.advance(1600);
  await call.replies("You pressed five.");
  await call.advance(1000);
  await call.playMarks();
  await call.advance(500);
  await call.stop();
  return call.tape();
}
