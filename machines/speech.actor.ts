/**
 * The child actor that produces one utterance of the agent: a reply (LLM stream -> sentence chunker -> TTS)
 * or a fixed phrase (cached audio, else TTS). It reports audio and finished segments to the call actor, which
 * sends the marks and decides what the speaking means for the conversation.
 *
 * Audio takes two roads. The first piece of each segment, and then one piece per `EVENT_EVERY_BYTES` of audio,
 * go to the call actor as `speech.audio` events: the statechart needs those (the reply starts speaking, a
 * starved reply plays again, the TTS watchdog rearms) and sends them itself. The pieces in between go straight
 * out through `input.stream`, which the call actor gave this producer: a streaming TTS yields a piece every
 * 20 ms, and a full statechart step per piece (transition, context copy, watchdog timer rescheduled) cost
 * about 18 µs, some 4% of a core for 100 speaking calls, spent on events that change nothing. Events report how
 * many bytes went straight out, so the playback ledger stays exact at every segment's end. Nothing leaves
 * after the state that wanted it was exited: leaving it stops this actor, which aborts the controller that
 * every send checks first.
 *
 * Stopping the actor (leaving the state that invoked it) aborts the LLM request and the TTS synthesis through
 * one AbortSignal. Every event carries the producer's generation, so the parent can drop anything late.
 */
import { type EventObject, fromCallback } from "xstate";
import { asEngineError } from "./engine-errors.js";
import type { ChatMessage, EngineError, LlmClient, ToolCall, ToolSpec, TtsEngine } from "./engines.js";
import type { PhraseCache } from "./phrase-cache.js";
import { createSentenceChunker } from "./sentence-chunker.js";

export type SpeechSource =
  | { kind: "phrase"; text: string }
  /** Words of an interrupted utterance, said again from the segment the caller cut into. */
  | { kind: "resume"; text: string }
  | { kind: "reply"; llm: LlmClient; messages: readonly ChatMessage[]; tools: readonly ToolSpec[] };

export interface SpeechInput {
  callId: string;
  generation: number;
  source: SpeechSource;
  tts: TtsEngine;
  phrases: PhraseCache | undefined;
  /** Sends a piece of this producer's audio to the caller now, without a statechart event (see above). */
  stream: (audio: Uint8Array) => void;
}

/**
 * 1 s of mulaw 8 kHz. Within a segment, a piece goes through the statechart once this much audio went
 * straight out since the last one that did, so the TTS watchdog sees a streaming engine alive at least once a
 * second of audio (and at 1/50 of the cost of seeing every 20 ms piece).
 */
export const EVENT_EVERY_BYTES = 8000;

/**
 * What a speech producer tells the call actor, in this order per segment: queued (replies), synthesizing?,
 * audio+, segment.
 */
export type SpeechEvent =
  /** The LLM produced its first chunk (text or tool call): it is alive. Replies only. */
  | { type: "llm.firstChunk"; generation: number }
  /**
   * The LLM's words up to a segment boundary, waiting their turn for TTS: what a resume after a false
   * interruption may still say although none of it was sent. Replies only; one event per segment.
   */
  | { type: "speech.queued"; generation: number; text: string }
  /** TTS was asked to speak `text`: audio is owed (cached audio skips this). */
  | { type: "speech.synthesizing"; generation: number; text: string }
  /**
   * A piece of the current segment's audio, mulaw 8 kHz, to send to the caller now. `streamedBytes`: the
   * segment's audio that went straight out (`SpeechInput.stream`) since the previous event of this segment.
   */
  | { type: "speech.audio"; generation: number; audio: Uint8Array; streamedBytes: number }
  /**
   * The current segment's audio is complete: send its mark. Segments that made no audio are not reported.
   * `streamedBytes` as for `speech.audio`: the segment's tail that went straight out.
   */
  | { type: "speech.segment"; generation: number; text: string; streamedBytes: number }
  /** Nothing more will come. `text` is everything the LLM said; `toolCalls` what it asked for. */
  | { type: "speech.done"; generation: number; text: string; toolCalls: ToolCall[] }
  | { type: "speech.failed"; generation: number; error: EngineError };

export const speechActor = fromCallback<EventObject, SpeechInput>(({ input, sendBack }) => {
  const controller = new AbortController();
  const send = (event: SpeechEvent) => {
    if (!controller.signal.aborted) sendBack(event);
  };
  const producer = new SpeechProducer(input, send, controller);
  if (input.source.kind === "phrase") producer.speakPhrase(input.source.text);
  else if (input.source.kind === "resume") producer.speakResumed(input.source.text);
  else producer.speakReply(input.source);
  return () => controller.abort();
});

class SpeechProducer {
  private failed = false;

  constructor(
    private readonly input: SpeechInput,
    private readonly send: (event: SpeechEvent) => void,
    private readonly controller: AbortController,
  ) {}

  private get generation() {
    return this.input.generation;
  }

  /** Cached phrases are reported synchronously, so their first frame leaves in the same tick as the event. */
  speakPhrase(text: string): void {
    const cached = this.input.phrases?.get(text);
    if (cached) {
      this.sendSegment(text, cached);
      this.send({ type: "speech.done", generation: this.generation, text, toolCalls: [] });
      return;
    }
    this.synthesize(text).then(
      () => this.send({ type: "speech.done", generation: this.generation, text, toolCalls: [] }),
      (error: unknown) => this.fail("tts", error),
    );
  }

  /** Cut into segments as a reply is, each reported queued, so a second interruption can resume it again. */
  speakResumed(text: string): void {
    const chunker = createSentenceChunker();
    const segments = [...chunker.push(text), ...chunker.flush()];
    for (const segment of segments) this.queue(segment);
    const speak = async () => {
      for (const segment of segments) await this.speakSegment(segment);
    };
    speak().then(
      () => {
        if (!this.failed)
          this.send({ type: "speech.done", generation: this.generation, text, toolCalls: [] });
      },
      (error: unknown) => this.fail("tts", error),
    );
  }

  speakReply(source: Extract<SpeechSource, { kind: "reply" }>): void {
    const segments = new SegmentQueue();
    const toolCalls: ToolCall[] = [];
    let text = "";

    const listen = async () => {
      const chunker = createSentenceChunker();
      let first = true;
      const stream = source.llm.stream({
        callId: this.input.callId,
        messages: source.messages,
        tools: source.tools,
        signal: this.controller.signal,
      });
      for await (const chunk of stream) {
        if (first) {
          first = false;
          this.send({ type: "llm.firstChunk", generation: this.generation });
        }
        if (chunk.type === "toolCall") {
          toolCalls.push(chunk.call);
        } else {
          text += chunk.text;
          queue(chunker.push(chunk.text));
        }
      }
      queue(chunker.flush());
      segments.close();
    };
    const queue = (cut: readonly string[]) => {
      for (const segment of cut) this.queue(segment);
      segments.push(cut);
    };

    const speak = async () => {
      for await (const segment of segments) await this.speakSegment(segment);
    };

    // The LLM keeps streaming while earlier segments are being spoken; the first failure stops both.
    const listening = listen().catch((error: unknown) => {
      segments.close();
      this.fail("llm", error);
    });
    const speaking = speak().catch((error: unknown) => this.fail("tts", error));
    void Promise.all([listening, speaking]).then(() => {
      if (!this.failed) this.send({ type: "speech.done", generation: this.generation, text, toolCalls });
    });
  }

  private queue(segment: string): void {
    if (segment.trim() !== "")
      this.send({ type: "speech.queued", generation: this.generation, text: segment });
  }

  private async speakSegment(text: string): Promise<void> {
    if (text.trim() === "" || this.failed) return;
    const cached = this.input.phrases?.get(text.trim());
    if (cached) this.sendSegment(text, cached);
    else await this.synthesize(text);
  }

  private sendSegment(text: string, audio: Uint8Array): void {
    this.send({ type: "speech.audio", generation: this.generation, audio, streamedBytes: 0 });
    this.send({ type: "speech.segment", generation: this.generation, text, streamedBytes: 0 });
  }

  private async synthesize(text: string): Promise<void> {
    this.send({ type: "speech.synthesizing", generation: this.generation, text });
    let spoke = false;
    /** Bytes of this segment sent through `stream` since its last `speech.audio` event. */
    let streamed = 0;
    const audio = this.input.tts.synthesize(text, {
      callId: this.input.callId,
      signal: this.controller.signal,
    });
    for await (const piece of audio) {
      if (piece.length === 0) continue;
      if (spoke && streamed + piece.length < EVENT_EVERY_BYTES) {
        if (this.controller.signal.aborted) return;
        this.input.stream(piece);
        streamed += piece.length;
        continue;
      }
      spoke = true;
      this.send({ type: "speech.audio", generation: this.generation, audio: piece, streamedBytes: streamed });
      streamed = 0;
    }
    if (spoke)
      this.send({ type: "speech.segment", generation: this.generation, text, streamedBytes: streamed });
  }

  /** Reports the first failure only; an abort we caused ourselves (or the parent did) is not a failure. */
  private fail(engine: "llm" | "tts", error: unknown): void {
    if (this.failed || this.controller.signal.aborted) return;
    this.failed = true;
    this.send({ type: "speech.failed", generation: this.generation, error: asEngineError(engine, error) });
    this.controller.abort();
  }
}

/** Segments handed from the LLM loop to the TTS loop, in order; iterating ends once closed and empty. */
class SegmentQueue implements AsyncIterable<string> {
  private readonly items: string[] = [];
  private closed = false;
  private wake: (() => void) | undefined;

  push(segments: readonly string[]): void {
    if (segments.length === 0) return;
    this.items.push(...segments);
    this.notify();
  }

  close(): void {
    this.closed = true;
    this.notify();
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<string> {
    for (;;) {
      const next = this.items.shift();
      if (next !== undefined) {
        yield next;
        continue;
      }
      if (this.closed) return;
      await new Promise<void>((resolve) => {
        this.wake = resolve;
      });
    }
  }
}
