/**
 * The ports through which a call actor reaches the outside world. Machines import these types and nothing
 * else from the engine side: no SDK, no socket. Adapters in `src/engines/` implement them for real engines;
 * tests and tape replay implement them with fakes and players.
 */

/** Which engine failed and how, so one log line and one metric can say it. */
export type EngineName = "stt" | "llm" | "tts" | "telephony";
export type EngineErrorKind = "connect" | "timeout" | "protocol" | "http" | "closed" | "aborted" | "unknown";

export class EngineError extends Error {
  constructor(
    readonly engine: EngineName,
    readonly kind: EngineErrorKind,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = "EngineError";
  }
}

// ---------------------------------------------------------------------------------------------------------
// Speech to text
// ---------------------------------------------------------------------------------------------------------

/**
 * What a recogniser reports, in a vocabulary of what the caller is doing rather than how one vendor says it.
 * Deepgram maps its SpeechStarted / interim / is_final / speech_final / UtteranceEnd onto it
 * (`src/engines/deepgram/speech-turns.ts`); a VAD-segmented Whisper emits it from its segmenter and decoder.
 * Times are seconds from the start of the call's audio stream.
 *
 * Order within one utterance: `speechStarted`, any number of `interim` and `final`, then `speechEnded`.
 * Every engine sends the `final` words of an utterance before its `speechEnded`, so "speech ended and words
 * are in" is the end of the caller's turn whatever the engine.
 */
export type SttEvent =
  /** Voice activity began (a VAD, or the engine's own detector). */
  | { type: "speechStarted"; at: number }
  /** The best guess so far of the words since the last `final`; each replaces the previous one. */
  | { type: "interim"; text: string; start: number; end: number; confidence: number }
  /** Words since the last `final` that will not be revised. May be empty (a cough, noise). */
  | { type: "final"; text: string; start: number; end: number; confidence: number }
  /** The caller stopped speaking (VAD silence window; Deepgram speech_final or UtteranceEnd). */
  | { type: "speechEnded"; at: number }
  /** The recogniser is gone for good (reconnects exhausted, bad credentials, model missing). */
  | { type: "failed"; error: EngineError };

export interface SttSession {
  /**
   * One Twilio frame of mulaw 8 kHz audio. Called 50 times a second, so it must be cheap. The caller may
   * reuse `frame` after the call returns: copy it if it is kept (for example while the socket connects).
   */
  sendAudio(frame: Uint8Array): void;
  /**
   * Ask the engine to flush what it holds as final results now (Deepgram `Finalize`; a VAD-segmented engine
   * closes its open segment). The call asks when it stops waiting for the end of speech.
   */
  finalize(): void;
  /** End the stream politely (Deepgram `CloseStream`) and release everything. Never throws. */
  close(): Promise<void>;
}

export interface SttEngine {
  readonly name: string;
  /**
   * true: `speechStarted` comes from a voice detector that rejects noise (Silero VAD), so speech that goes on
   * while the agent talks may interrupt it before any word is recognised. false: only words interrupt
   * (Deepgram's SpeechStarted also fires on noise, and its interim words come within a few hundred ms).
   */
  readonly speechStartIsReliable: boolean;
  /** Opens at once and buffers audio until the engine is connected, so nothing said at call start is lost. */
  open(options: { callId: string; onEvent: (event: SttEvent) => void }): SttSession;
}

// ---------------------------------------------------------------------------------------------------------
// Language model
// ---------------------------------------------------------------------------------------------------------

export interface ToolCall {
  id: string;
  name: string;
  /** The raw JSON argument string, exactly as the model produced it. */
  arguments: string;
}

export type ChatMessage =
  | { role: "system"; content: string }
  | { role: "user"; content: string }
  | {
      role: "assistant";
      content: string;
      /** The caller interrupted: `content` holds only what the playback marks prove was heard. */
      interrupted?: boolean;
      toolCalls?: ToolCall[];
    }
  | { role: "tool"; toolCallId: string; content: string };

export interface ToolSpec {
  name: string;
  description: string;
  /** JSON Schema of the arguments. */
  parameters: Record<string, unknown>;
}

export type LlmChunk = { type: "text"; text: string } | { type: "toolCall"; call: ToolCall };

export interface LlmClient {
  readonly name: string;
  /**
   * Streams one reply. Text chunks are speakable text (reasoning such as `<think>…</think>` already removed);
   * tool calls are yielded whole, once their streamed arguments are complete. Aborting `signal` ends the
   * request at once; the iterator then throws an `EngineError` of kind "aborted" instead of ending quietly.
   */
  stream(request: {
    callId: string;
    messages: readonly ChatMessage[];
    tools: readonly ToolSpec[];
    signal: AbortSignal;
  }): AsyncIterable<LlmChunk>;
}

// ---------------------------------------------------------------------------------------------------------
// Text to speech
// ---------------------------------------------------------------------------------------------------------

export interface TtsEngine {
  readonly name: string;
  /**
   * Speaks `text` as mulaw 8 kHz, yielded in pieces of any size as synthesis proceeds. Aborting `signal`
   * stops synthesis; the iterator then throws an `EngineError` of kind "aborted".
   */
  synthesize(text: string, options: { callId: string; signal: AbortSignal }): AsyncIterable<Uint8Array>;
}

// ---------------------------------------------------------------------------------------------------------
// Telephony (Twilio): the only way out of a call actor
// ---------------------------------------------------------------------------------------------------------

export interface Telephony {
  /** Queue mulaw 8 kHz audio for the caller (sent as `media` messages). */
  sendMedia(mulaw: Uint8Array): void;
  /** Send a `mark`: Twilio echoes it once every byte sent before it has played (or was cleared). */
  sendMark(name: string): void;
  /** Send `clear`: Twilio drops the audio it buffered and echoes every pending mark at once. */
  sendClear(): void;
  /** End the call over the REST API (`status: "completed"`). A call that already ended is not an error. */
  hangUp(callSid: string): Promise<void>;
  /** Redirect the call over the REST API to TwiML that dials `to`. */
  transfer(callSid: string, to: string): Promise<void>;
  /** Close the media stream socket (the actor is done with it). */
  closeStream(): void;
}
