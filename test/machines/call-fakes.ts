/**
 * Fake engines for driving the call actor: every one records what it was asked and lets the test decide,
 * step by step, what it answers. Audio is the UTF-8 of the text it speaks, so an outbound `media` message reads
 * back as the words the caller would hear.
 */
import { SimulatedClock } from "xstate";
import type { ReadableClock } from "../../machines/call-actor.js";
import {
  type ChatMessage,
  EngineError,
  type LlmChunk,
  type LlmClient,
  type SttEngine,
  type SttEvent,
  type SttSession,
  type Telephony,
  type ToolCall,
  type ToolSpec,
  type TtsEngine,
} from "../../machines/engines.js";
import type { PhraseCache } from "../../machines/phrase-cache.js";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** The fake "audio" of `text`. */
export function audioOf(text: string, msPerChar = 0): Uint8Array {
  const words = encoder.encode(text);
  const length = Math.max(words.length, Math.round(text.length * msPerChar * MULAW_BYTES_PER_MS));
  if (length === words.length) return words;
  // Silence (NUL, which the recording telephony strips) stretches the words to a speaking pace.
  const audio = new Uint8Array(length);
  audio.set(words);
  return audio;
}

const MULAW_BYTES_PER_MS = 8;

// ---------------------------------------------------------------------------------------------------------
// Clock
// ---------------------------------------------------------------------------------------------------------

/** A SimulatedClock that also knows how many timers are pending (XState's keeps that private). */
export class CountingClock implements ReadableClock {
  readonly simulated = new SimulatedClock();
  private readonly pending = new Set<unknown>();

  now(): number {
    return this.simulated.now();
  }

  setTimeout(fn: (...args: unknown[]) => void, timeout: number): unknown {
    const id: unknown = this.simulated.setTimeout(() => {
      this.pending.delete(id);
      fn();
    }, timeout);
    this.pending.add(id);
    return id;
  }

  clearTimeout(id: unknown): void {
    this.pending.delete(id);
    this.simulated.clearTimeout(id as number);
  }

  get pendingTimers(): number {
    return this.pending.size;
  }

  advance(ms: number): void {
    this.simulated.increment(ms);
  }
}

// ---------------------------------------------------------------------------------------------------------
// STT
// ---------------------------------------------------------------------------------------------------------

export class FakeSttSession implements SttSession {
  framesReceived = 0;
  finalizeRequests = 0;
  closed = false;

  constructor(readonly onEvent: (event: SttEvent) => void) {}

  sendAudio(): void {
    this.framesReceived += 1;
  }

  finalize(): void {
    this.finalizeRequests += 1;
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}

export class FakeStt implements SttEngine {
  readonly name = "fake-stt";
  readonly sessions: FakeSttSession[] = [];

  /** true: plays a VAD-backed recogniser (Whisper with Silero); false: a streaming one (Deepgram). */
  constructor(readonly speechStartIsReliable = false) {}

  open(options: { callId: string; onEvent: (event: SttEvent) => void }): SttSession {
    const session = new FakeSttSession(options.onEvent);
    this.sessions.push(session);
    return session;
  }

  get session(): FakeSttSession {
    const session = this.sessions.at(-1);
    if (!session) throw new Error("no STT session was opened");
    return session;
  }

  emit(event: SttEvent): void {
    this.session.onEvent(event);
  }

  /** The caller says `text` in one breath between `start` and `end` (s): what any recogniser reports of it. */
  utterance(text: string, start = 0, end = start + 1): void {
    this.emit({ type: "speechStarted", at: start });
    this.emit({ type: "final", text, start, end, confidence: 0.9 });
    this.emit({ type: "speechEnded", at: end });
  }
}

// ---------------------------------------------------------------------------------------------------------
// LLM
// ---------------------------------------------------------------------------------------------------------

/** One streamed reply the test plays chunk by chunk. */
export class ScriptedReply {
  readonly messages: ChatMessage[];
  readonly tools: string[];
  /** The abort came while the stream was still open (aborting a finished request changes nothing). */
  aborted = false;
  private finished = false;
  private readonly queue: (LlmChunk | { type: "end" } | { type: "error"; error: Error })[] = [];
  private wake: (() => void) | undefined;

  constructor(
    request: { messages: readonly ChatMessage[]; tools: readonly ToolSpec[] },
    private readonly signal: AbortSignal,
  ) {
    this.messages = structuredClone([...request.messages]);
    this.tools = request.tools.map((tool) => tool.name);
    signal.addEventListener("abort", () => {
      if (!this.finished) this.aborted = true;
      this.poke();
    });
  }

  text(text: string): this {
    return this.push({ type: "text", text });
  }

  toolCall(name: string, args = "{}"): this {
    const call: ToolCall = { id: `call-${name}`, name, arguments: args };
    return this.push({ type: "toolCall", call });
  }

  end(): this {
    return this.push({ type: "end" });
  }

  fail(error: Error): this {
    return this.push({ type: "error", error });
  }

  private push(item: (typeof this.queue)[number]): this {
    this.queue.push(item);
    this.poke();
    return this;
  }

  private poke(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  /** The request is still streaming: nobody ended or aborted it. */
  get open(): boolean {
    return !this.finished;
  }

  async *chunks(): AsyncIterable<LlmChunk> {
    try {
      for (;;) {
        if (this.signal.aborted) throw new EngineError("llm", "aborted", "request aborted");
        const next = this.queue.shift();
        if (!next) {
          await new Promise<void>((resolve) => {
            this.wake = resolve;
          });
          continue;
        }
        if (next.type === "end") return;
        if (next.type === "error") throw next.error;
        yield next;
      }
    } finally {
      this.finished = true;
    }
  }
}

export class ScriptedLlm implements LlmClient {
  readonly name = "scripted-llm";
  readonly requests: ScriptedReply[] = [];

  stream(request: {
    callId: string;
    messages: readonly ChatMessage[];
    tools: readonly ToolSpec[];
    signal: AbortSignal;
  }): AsyncIterable<LlmChunk> {
    const reply = new ScriptedReply(request, request.signal);
    this.requests.push(reply);
    return reply.chunks();
  }

  /** The latest request: the one the call is waiting on. */
  get current(): ScriptedReply {
    const reply = this.requests.at(-1);
    if (!reply) throw new Error("the LLM was never asked");
    return reply;
  }
}

// ---------------------------------------------------------------------------------------------------------
// TTS
// ---------------------------------------------------------------------------------------------------------

interface SynthesisRequest {
  text: string;
  /** Aborted while still synthesizing. */
  aborted: boolean;
  /** Still synthesizing: neither done nor aborted. */
  open: boolean;
}

/**
 * Audio the test hands a streaming synthesis piece by piece (`FakeTts.stream`), as a streaming engine yields it.
 */
export class StreamedSynthesis {
  private readonly pieces: Uint8Array[] = [];
  private ended = false;
  private wake: (() => void) | undefined;

  push(...pieces: Uint8Array[]): void {
    this.pieces.push(...pieces);
    this.notify();
  }

  end(): void {
    this.ended = true;
    this.notify();
  }

  /** The pieces pushed so far, then the next ones as they come, until `end()` or an abort. */
  async *read(aborted: Promise<never>): AsyncIterable<Uint8Array> {
    for (;;) {
      const piece = this.pieces.shift();
      if (piece) {
        yield piece;
        continue;
      }
      if (this.ended) return;
      await Promise.race([new Promise<void>((resolve) => (this.wake = resolve)), aborted]);
    }
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }
}

/**
 * Speaks each text as its UTF-8 bytes, in one piece, after a microtask. `stall(text)` makes that text hang until
 * aborted; `failOn(text)` makes it throw; `stream(text)` makes it come out as the test pushes it.
 */
export class FakeTts implements TtsEngine {
  readonly name = "fake-tts";
  /** `msPerChar`: how long the fake voice takes per character (0: one byte per character). */
  constructor(readonly msPerChar = 0) {}

  readonly requests: SynthesisRequest[] = [];
  private readonly stalled = new Set<string>();
  private readonly failing = new Set<string>();
  private readonly streamed = new Map<string, StreamedSynthesis>();

  /** The next synthesis of `text` yields what the test pushes into the returned stream. */
  stream(text: string): StreamedSynthesis {
    const synthesis = new StreamedSynthesis();
    this.streamed.set(text, synthesis);
    return synthesis;
  }

  stall(text: string): void {
    this.stalled.add(text);
  }

  failOn(text: string): void {
    this.failing.add(text);
  }

  async *synthesize(
    text: string,
    options: { callId: string; signal: AbortSignal },
  ): AsyncIterable<Uint8Array> {
    const request = { text, aborted: false, open: true };
    this.requests.push(request);
    const aborted = new Promise<never>((_, reject) => {
      const abort = () => {
        if (request.open) request.aborted = true;
        reject(new EngineError("tts", "aborted", "synthesis aborted"));
      };
      if (options.signal.aborted) abort();
      else options.signal.addEventListener("abort", abort, { once: true });
    });
    aborted.catch(() => undefined);
    try {
      if (this.stalled.has(text)) await aborted;
      await Promise.race([Promise.resolve(), aborted]);
      if (this.failing.has(text)) throw new EngineError("tts", "http", `cannot speak "${text}"`);
      const synthesis = this.streamed.get(text);
      this.streamed.delete(text);
      if (synthesis) yield* synthesis.read(aborted);
      else yield audioOf(text, this.msPerChar);
    } finally {
      request.open = false;
    }
  }

  /** Texts synthesized, in order. */
  get texts(): string[] {
    return this.requests.map((request) => request.text);
  }
}

/** A phrase cache holding the fake audio of the given phrases. */
export function cachedPhrases(texts: readonly string[], msPerChar = 0): PhraseCache {
  const audio = new Map(texts.map((text) => [text, audioOf(text, msPerChar)]));
  return { get: (text) => audio.get(text) };
}

// ---------------------------------------------------------------------------------------------------------
// Telephony
// ---------------------------------------------------------------------------------------------------------

/**
 * Records every outbound message as one readable line: `media <words>`, `mark <name>`, `clear`,
 * `hangUp <sid>`, `transfer <sid> <to>`, `closeStream`.
 */
export class RecordingTelephony implements Telephony {
  readonly log: string[] = [];
  /** Marks sent and not yet echoed, in order (what Twilio would still echo). */
  readonly pendingMarks: string[] = [];
  hangUpError: Error | undefined;
  /** While set, REST calls wait for it (a slow Twilio API). */
  restDelay: Promise<void> | undefined;

  sendMedia(mulaw: Uint8Array): void {
    this.log.push(`media ${decoder.decode(mulaw).replace(/\0+$/, "")}`);
  }

  sendMark(name: string): void {
    this.log.push(`mark ${name}`);
    this.pendingMarks.push(name);
  }

  sendClear(): void {
    this.log.push("clear");
  }

  async hangUp(callSid: string): Promise<void> {
    this.log.push(`hangUp ${callSid}`);
    await this.restDelay;
    if (this.hangUpError) throw this.hangUpError;
  }

  async transfer(callSid: string, to: string): Promise<void> {
    this.log.push(`transfer ${callSid} ${to}`);
    await this.restDelay;
  }

  closeStream(): void {
    this.log.push("closeStream");
  }

  /** Lines logged since the last call, so each test step can assert exactly what it caused. */
  private read = 0;
  take(): string[] {
    const lines = this.log.slice(this.read);
    this.read = this.log.length;
    return lines;
  }
}
