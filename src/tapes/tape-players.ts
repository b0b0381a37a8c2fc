/**
 * Engines that answer from a tape. Each one does what the real engine did on the recorded call, but only when
 * the replay driver says so: the driver walks the tape's inputs in order and hands each to `deliver` at its
 * recorded time on the simulated clock. Requests are matched by their number within the call (the replayed
 * call's third TTS request gets the recording's third TTS answer); an answer that arrives before its request
 * was made waits for it, and a request the recording never made waits forever, as a silent engine would.
 */
import type { CallEngines } from "../../machines/call-types.js";
import {
  EngineError,
  type LlmChunk,
  type LlmClient,
  type SttEngine,
  type SttEvent,
  type Telephony,
  type TtsEngine,
} from "../../machines/engines.js";
import type { PhraseCache } from "../../machines/phrase-cache.js";
import type { AudioFingerprints } from "./audio-fingerprints.js";
import type { AudioRef, RecordedError, TapeHeader, TapeInput } from "./tape-format.js";

/** The inputs engines answer with (the rest are Twilio's messages, which the driver sends the actor itself). */
export type EngineInput = Exclude<TapeInput, { in: `twilio.${string}` } | { in: "socket.closed" }>;

export class TapePlayers {
  readonly engines: CallEngines;
  readonly phrases: PhraseCache;
  private sttEvents: ((event: SttEvent) => void) | undefined;
  private readonly llm = new Answers<LlmChunk>("llm");
  private readonly tts = new Answers<Uint8Array>("tts");
  private readonly rest = new Map<number, Deferred>();
  private restRequests = 0;

  constructor(
    header: TapeHeader,
    private readonly fingerprints: AudioFingerprints,
  ) {
    this.engines = {
      stt: this.sttPlayer(header.engines.stt),
      llm: { name: header.engines.llm, stream: ({ signal }) => this.llm.next(signal) } satisfies LlmClient,
      tts: {
        name: header.engines.tts,
        synthesize: (_text, { signal }) => this.tts.next(signal),
      } satisfies TtsEngine,
      telephony: this.telephonyPlayer(),
    };
    this.phrases = this.phrasePlayer(header.phrases);
  }

  /** Plays one recorded engine input into the replayed call. */
  deliver(input: EngineInput): void {
    switch (input.in) {
      case "stt.speechStarted":
      case "stt.interim":
      case "stt.final":
      case "stt.speechEnded":
      case "stt.failed":
        this.sttEvents?.(sttEvent(input));
        break;
      case "llm.text":
        this.llm.push(input.req, { value: { type: "text", text: input.text } });
        break;
      case "llm.toolCall":
        this.llm.push(input.req, { value: { type: "toolCall", call: input.call } });
        break;
      case "llm.end":
        this.llm.push(input.req, { end: true });
        break;
      case "llm.error":
        this.llm.push(input.req, { error: input.error });
        break;
      case "tts.audio":
        this.tts.push(input.req, { value: this.audio(input) });
        break;
      case "tts.end":
        this.tts.push(input.req, { end: true });
        break;
      case "tts.error":
        this.tts.push(input.req, { error: input.error });
        break;
      case "rest.done":
        this.restAnswer(input.req).resolve();
        break;
      case "rest.error":
        this.restAnswer(input.req).reject(engineError(input.error));
        break;
      case "audio.in":
        // The caller's audio went to STT, whose results are on the tape: nothing to play.
        break;
    }
  }

  private sttPlayer(name: string): SttEngine {
    return {
      name,
      // The tape's configuration already holds what this decided (`bargeInSpeechMs`), and replay uses it as is.
      speechStartIsReliable: true,
      open: ({ onEvent }) => {
        this.sttEvents = onEvent;
        return {
          sendAudio() {},
          finalize() {},
          close: async () => {
            if (this.sttEvents === onEvent) this.sttEvents = undefined;
          },
        };
      },
    };
  }

  private telephonyPlayer(): Telephony {
    // What goes out is recorded by the recorder wrapped around this player; only REST answers come back.
    const request = () => this.restAnswer(++this.restRequests).promise;
    return {
      sendMedia() {},
      sendMark() {},
      sendClear() {},
      closeStream() {},
      hangUp: request,
      transfer: request,
    };
  }

  private restAnswer(req: number): Deferred {
    let answer = this.rest.get(req);
    if (!answer) {
      answer = new Deferred();
      this.rest.set(req, answer);
    }
    return answer;
  }

  private phrasePlayer(recorded: TapeHeader["phrases"]): PhraseCache {
    const audio = new Map<string, Uint8Array>();
    for (const [text, ref] of Object.entries(recorded)) if (ref) audio.set(text, this.audio(ref));
    return { get: (text) => audio.get(text) };
  }

  /** The recorded audio itself when the tape kept it, else a stand-in of its length that hashes as it did. */
  private audio(ref: AudioRef): Uint8Array {
    if (ref.audio !== undefined) return new Uint8Array(Buffer.from(ref.audio, "base64"));
    const standIn = new Uint8Array(ref.bytes).fill(0xff);
    this.fingerprints.register(standIn, ref.sha);
    return standIn;
  }
}

type Step<T> = { value: T } | { end: true } | { error: RecordedError };

/** The recorded answers of one engine, by request number. */
class Answers<T> {
  private readonly byRequest = new Map<number, Answer<T>>();
  private requests = 0;

  constructor(private readonly engine: "llm" | "tts") {}

  /** The replayed call made its next request: it gets the recorded answer of the same number. */
  next(signal: AbortSignal): AsyncIterable<T> {
    return this.answer(++this.requests).stream(signal);
  }

  push(req: number, step: Step<T>): void {
    this.answer(req).push(step);
  }

  private answer(req: number): Answer<T> {
    let answer = this.byRequest.get(req);
    if (!answer) {
      answer = new Answer<T>(this.engine);
      this.byRequest.set(req, answer);
    }
    return answer;
  }
}

/** One streamed answer: steps are pushed by the driver and pulled by the call, which may abort. */
class Answer<T> {
  private readonly steps: Step<T>[] = [];
  private wake: (() => void) | undefined;

  constructor(private readonly engine: "llm" | "tts") {}

  push(step: Step<T>): void {
    this.steps.push(step);
    this.poke();
  }

  private poke(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  async *stream(signal: AbortSignal): AsyncIterable<T> {
    const onAbort = () => this.poke();
    signal.addEventListener("abort", onAbort, { once: true });
    try {
      for (;;) {
        // As the real adapters do: an aborted request throws rather than ending quietly.
        if (signal.aborted) throw new EngineError(this.engine, "aborted", `${this.engine} request aborted`);
        const step = this.steps.shift();
        if (step === undefined) {
          await new Promise<void>((resolve) => {
            this.wake = resolve;
          });
          continue;
        }
        if ("end" in step) return;
        if ("error" in step) throw engineError(step.error);
        yield step.value;
      }
    } finally {
      signal.removeEventListener("abort", onAbort);
    }
  }
}

class Deferred {
  readonly promise: Promise<void>;
  resolve: () => void = () => {};
  reject: (error: Error) => void = () => {};

  constructor() {
    this.promise = new Promise<void>((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
    // A REST answer the replayed call never waits for must not become an unhandled rejection.
    this.promise.catch(() => undefined);
  }
}

function sttEvent(input: Extract<EngineInput, { in: `stt.${string}` }>): SttEvent {
  switch (input.in) {
    case "stt.failed":
      return { type: "failed", error: engineError(input.error) };
    default: {
      const { t: _t, in: type, ...fields } = input;
      return { type: type.slice("stt.".length), ...fields } as SttEvent;
    }
  }
}

function engineError(error: RecordedError): EngineError {
  return new EngineError(error.engine, error.kind, error.message);
}
