/**
 * Engines of fixed, known latency for the bench server, so whatever time a call takes beyond those latencies is
 * the orchestrator's own.
 *
 * - STT hears the caller's audio as a real endpointer would: an utterance starts with the first frame that is
 *   not silence, an interim result follows a few frames in, and the first silent frame after speech ends the
 *   utterance with a final `speech_final` result. Results are handed over on a later turn of the event loop,
 *   as a real STT socket's messages would be.
 * - The LLM answers every request with the same short sentence, its first token `llmFirstTokenMs` after the
 *   request and the other tokens right behind it.
 * - TTS gives its first audio (`ttsLeadMs` of it) `ttsFirstAudioMs` after the request; then, when `paced`,
 *   20 ms more every 20 ms (a streaming engine running at real time, with `ttsLeadMs` of head start),
 *   otherwise the rest at once.
 *
 * The two latencies are met to within microseconds by a timer thread (deadline-timer.ts), whose reply reaches
 * the server as a message through its event loop, as a network reply would: subtracting the engines' latencies
 * from a measured interval leaves exactly the orchestrator's time, including any wait for an event loop it
 * keeps busy. (When the timer thread itself posts late, that is the engine being late and is subtracted too.)
 * The 20 ms pacing uses plain timers; a millisecond there changes no figure.
 */

import type {
  LlmChunk,
  LlmClient,
  SttEngine,
  SttEvent,
  SttSession,
  TtsEngine,
} from "../../machines/engines.js";
import { FRAME_MS, MULAW_FRAME_BYTES } from "../../src/audio/frames.js";
import type { CallProbe, ProbeRegistry } from "./call-probes.js";
import { aborted, DeadlineTimer } from "./deadline-timer.js";
import { isSilentFrame, mulawBytes, toneMulaw } from "./synthetic-audio.js";

export interface EngineTimings {
  llmFirstTokenMs: number;
  ttsFirstAudioMs: number;
  /** Audio in TTS's first piece. */
  ttsLeadMs: number;
  /** Length of every reply's audio. */
  replyAudioMs: number;
  paced: boolean;
}

/** An interim after this many frames of speech: 60 ms, enough words to pass the barge-in gate. */
const INTERIM_AFTER_FRAMES = 3;
const INTERIM_TEXT = "I would like";
const FINAL_TEXT = "I would like to book a visit";
const REPLY_TEXT = "Sure, I can help you book a visit this week.";
/** The reply as an LLM streams it: word by word. */
const REPLY_TOKENS = REPLY_TEXT.split(/(?<= )/);

const FRAME_SECONDS = FRAME_MS / 1000;

export function createTimedEngines(
  timings: EngineTimings,
  probes: ProbeRegistry,
): { stt: SttEngine; llm: LlmClient; tts: TtsEngine } {
  const timer = new DeadlineTimer();
  const replyAudio = toneMulaw(timings.replyAudioMs, 330);
  const leadBytes = Math.min(replyAudio.length, mulawBytes(timings.ttsLeadMs));

  const stt: SttEngine = {
    name: "bench-endpointing-stt",
    speechStartIsReliable: false,
    open: ({ callId, onEvent }) => new EndpointingSttSession(probes.get(callId), onEvent),
  };

  const llm: LlmClient = {
    name: "bench-timed-llm",
    async *stream({ callId, signal }): AsyncIterable<LlmChunk> {
      const probe = probes.get(callId);
      const requestedAt = performance.now();
      probe?.llmRequested(requestedAt);
      const firstTokenAt = requestedAt + timings.llmFirstTokenMs;
      const { engineLateMs } = await timer.sleepUntil(firstTokenAt, signal, "llm");
      probe?.engineReplied("llm", firstTokenAt, engineLateMs, performance.now());
      for (const token of REPLY_TOKENS) {
        if (signal.aborted) throw aborted("llm");
        yield { type: "text", text: token };
      }
    },
  };

  const tts: TtsEngine = {
    name: "bench-timed-tts",
    async *synthesize(_text, { callId, signal }): AsyncIterable<Uint8Array> {
      const probe = probes.get(callId);
      const requestedAt = performance.now();
      probe?.ttsRequested(requestedAt);
      const firstAudioAt = requestedAt + timings.ttsFirstAudioMs;
      const { engineLateMs } = await timer.sleepUntil(firstAudioAt, signal, "tts");
      probe?.engineReplied("tts", firstAudioAt, engineLateMs, performance.now());
      const lead = replyAudio.subarray(0, leadBytes);
      probe?.audioYielded(lead, firstAudioAt);
      yield lead;
      if (!timings.paced) {
        if (leadBytes < replyAudio.length) yield replyAudio.subarray(leadBytes);
        return;
      }
      // Drift-free: frame k is due k x 20 ms after the first audio, however late earlier ones were.
      let sent = leadBytes;
      for (let k = 1; sent < replyAudio.length; k++) {
        const due = firstAudioAt + k * FRAME_MS;
        await sleepUntil(due, signal);
        const end = Math.min(replyAudio.length, sent + MULAW_FRAME_BYTES);
        const piece = replyAudio.subarray(sent, end);
        probe?.audioYielded(piece, due);
        yield piece;
        sent = end;
      }
    },
  };

  return { stt, llm, tts };
}

class EndpointingSttSession implements SttSession {
  private frames = 0;
  private speechFrames = 0;
  private utteranceStart = 0;
  private closed = false;

  constructor(
    private readonly probe: CallProbe | undefined,
    private readonly onEvent: (event: SttEvent) => void,
  ) {}

  sendAudio(frame: Uint8Array): void {
    this.probe?.frameIn(performance.now());
    this.frames += 1;
    if (isSilentFrame(frame)) {
      if (this.speechFrames > 0) this.endUtterance();
      return;
    }
    if (this.speechFrames === 0) this.utteranceStart = (this.frames - 1) * FRAME_SECONDS;
    this.speechFrames += 1;
    if (this.speechFrames === INTERIM_AFTER_FRAMES) {
      // As a streaming recogniser does, the first words also say the speech started.
      const at = this.utteranceStart;
      this.deliver("interim", [{ type: "speechStarted", at }, this.transcript("interim", INTERIM_TEXT)]);
    }
  }

  finalize(): void {
    if (this.speechFrames > 0) this.endUtterance();
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  private endUtterance(): void {
    const final = this.transcript("final", FINAL_TEXT);
    this.deliver("final", [final, { type: "speechEnded", at: final.end }]);
    this.speechFrames = 0;
  }

  private transcript(type: "interim" | "final", text: string) {
    const start = this.utteranceStart;
    return { type, text, start, end: start + this.speechFrames * FRAME_SECONDS, confidence: 0.98 };
  }

  /** On a later turn of the event loop, as results arriving on the STT socket would be. */
  private deliver(kind: "final" | "interim", events: SttEvent[]): void {
    const handOver = () => {
      for (const event of events) this.onEvent(event);
    };
    setImmediate(() => {
      if (this.closed) return;
      if (this.probe) this.probe.handOver(kind, performance.now(), handOver);
      else handOver();
    });
  }
}

/**
 * A plain timer (millisecond precision), for pacing. An abort is noticed when it fires, at most 20 ms late:
 * by then the call has stopped listening anyway, and one abort listener per frame would cost the server more
 * than the pacing itself.
 */
async function sleepUntil(deadline: number, signal: AbortSignal): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, Math.max(0, deadline - performance.now())));
  if (signal.aborted) throw aborted("tts");
}
