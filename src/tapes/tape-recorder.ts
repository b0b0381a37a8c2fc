/**
 * Records one call as tape lines: the engines are wrapped at their ports (what STT, the LLM, TTS and Twilio's
 * REST API answered, and what the call asked of them and sent out), and the actor is inspected (Twilio's
 * messages as they reach it, its state transitions, its timers and its emitted milestones). The same recorder
 * runs during replay, around the players, so a recording and its replay are written by one piece of code and
 * compare line for line.
 *
 * Nothing here may break the call: a failing sink stops the recording (reported once) and the call goes on.
 * The audio path stays cheap: caller frames are counted (copied into one reused batch buffer only when raw
 * audio is wanted) and every outbound piece is hashed once.
 */
import type { InspectionEvent, StateValue } from "xstate";
import type { ReadableClock } from "../../machines/call-actor.js";
import type { CallConfig } from "../../machines/call-config.js";
import type { CallEngines } from "../../machines/call-types.js";
import { asEngineError } from "../../machines/engine-errors.js";
import type {
  EngineName,
  LlmChunk,
  LlmClient,
  SttEngine,
  SttEvent,
  Telephony,
  TtsEngine,
} from "../../machines/engines.js";
import { statePath } from "../observability/state-path.js";
import type { AudioFingerprints } from "./audio-fingerprints.js";
import {
  formatTapeLine,
  type RecordedError,
  TAPE_FORMAT,
  TAPE_VERSION,
  type TapeEntry,
  type TapeHeader,
  type TapeInput,
  type Untimed,
} from "./tape-format.js";

/** Where tape lines go: a file (appended line by line) or memory (replay). */
export interface TapeSink {
  write(line: string): void;
  close(): void;
}

export interface CallTapeRecorderOptions {
  sink: TapeSink;
  /** The actor clock: line times are `now()` minus its reading when the recorder was made. */
  clock: { now(): number };
  fingerprints: AudioFingerprints;
  /** Keep raw audio: caller frames (about a second per line) and every TTS piece. Default false. */
  audio?: boolean;
  /** Told once if the sink fails; the recording stops there, the call goes on. */
  onError?: (error: unknown) => void;
}

/** The Twilio-side events of the call actor (see `CallEvent`): inputs from outside the actor. */
const TWILIO_EVENTS = new Set(["twilio.start", "twilio.mark", "twilio.dtmf", "twilio.stop", "socket.closed"]);
/** One `audio.in` line per this many caller bytes (one second of mu-law 8 kHz). */
const CALLER_AUDIO_BATCH_BYTES = 8000;

export class CallTapeRecorder {
  private readonly origin: number;
  private readonly audio: boolean;
  private stopped = false;
  private requests = { llm: 0, tts: 0, rest: 0 };
  private callerFrames = 0;
  private lastState: string | undefined;
  private timers = 0;
  /** While one of the actor's timers fires: how late it fired (ms on the actor clock), for its `due`. */
  private firingLateMs: number | undefined;
  private readonly callerAudio: CallerAudioBatch | undefined;

  constructor(private readonly options: CallTapeRecorderOptions) {
    this.origin = options.clock.now();
    this.audio = options.audio ?? false;
    this.callerAudio = this.audio ? new CallerAudioBatch() : undefined;
  }

  /**
   * The actor clock the call should run on, passed through to `clock`, so each `timer` line also says when the
   * timer was due: replay then compares due times, which do not depend on how busy the host was.
   */
  wrapClock(clock: ReadableClock): ReadableClock {
    return {
      now: () => clock.now(),
      setTimeout: (fn, timeout) => {
        const due = clock.now() + timeout;
        return clock.setTimeout((...args: unknown[]) => {
          const outer = this.firingLateMs;
          this.firingLateMs = Math.max(0, clock.now() - due);
          try {
            fn(...args);
          } finally {
            this.firingLateMs = outer;
          }
        }, timeout);
      },
      clearTimeout: (id) => clock.clearTimeout(id),
    };
  }

  /** How many of the actor's own timers fired so far (replay lines its timers up with the recording's). */
  get timersFired(): number {
    return this.timers;
  }

  writeHeader(
    header: Omit<TapeHeader, "format" | "version" | "audio" | "config"> & { config: CallConfig },
  ): void {
    this.writeLine(
      formatTapeLine({ format: TAPE_FORMAT, version: TAPE_VERSION, ...header, audio: this.audio }),
    );
  }

  /** The call is over: the last line says so, and nothing more is written. */
  end(reason: string): void {
    this.flushCallerAudio();
    this.write({ end: reason, callerFrames: this.callerFrames });
    this.stopped = true;
    this.options.sink.close();
  }

  wrapEngines(engines: CallEngines): CallEngines {
    return {
      stt: this.wrapStt(engines.stt),
      llm: this.wrapLlm(engines.llm),
      tts: this.wrapTts(engines.tts),
      telephony: this.wrapTelephony(engines.telephony),
    };
  }

  /** Sees the actor's inspection stream; only the root actor (the call itself) is recorded. */
  inspect(event: InspectionEvent): void {
    if (event.actorRef.sessionId !== event.rootId) return;
    switch (event.type) {
      case "@xstate.event": {
        const { type, ...fields } = event.event;
        // No source: it came from outside (the stream route). Itself as source: one of its delayed events.
        if (event.sourceRef === undefined && TWILIO_EVENTS.has(type)) {
          this.write({ in: type, ...fields } as Untimed<TapeInput>);
        } else if (event.sourceRef === event.actorRef) {
          this.timers += 1;
          const late = this.firingLateMs;
          const due = late === undefined ? undefined : Math.round((this.now() - late) * 100) / 100;
          this.write({ out: "timer", event: type, ...(due === undefined ? {} : { due }) });
        }
        return;
      }
      case "@xstate.microstep": {
        // The root is the call machine, whose snapshots always hold a state value.
        if (!("value" in event.snapshot)) return;
        const value = statePath(event.snapshot.value as StateValue);
        if (value !== this.lastState) {
          this.lastState = value;
          this.write({ out: "state", value });
        }
        return;
      }
      case "@xstate.action": {
        if (event.action.type !== "xstate.emit") return;
        const emitted = (event.action.params as { event?: { type: string } } | undefined)?.event;
        if (emitted) this.write({ out: "emit", event: jsonSafe(emitted) });
        return;
      }
    }
  }

  private now(): number {
    return Math.round((this.options.clock.now() - this.origin) * 100) / 100;
  }

  private write(entry: Untimed<TapeEntry>): void {
    if (this.stopped) return;
    this.writeLine(formatTapeLine({ t: this.now(), ...entry } as TapeEntry));
  }

  private writeLine(line: string): void {
    if (this.stopped) return;
    try {
      this.options.sink.write(line);
    } catch (error) {
      this.stopped = true;
      this.options.onError?.(error);
    }
  }

  private audioRef(piece: Uint8Array): { bytes: number; sha: string; audio?: string } {
    const ref = { bytes: piece.length, sha: this.options.fingerprints.of(piece) };
    return this.audio ? { ...ref, audio: Buffer.from(piece).toString("base64") } : ref;
  }

  private keepCallerAudio(batch: CallerAudioBatch, frame: Uint8Array): void {
    batch.frames += 1;
    let rest = batch.add(frame);
    while (batch.full) {
      this.flushCallerAudio();
      rest = rest.length > 0 ? batch.add(rest) : rest;
    }
  }

  private flushCallerAudio(): void {
    const batch = this.callerAudio?.take();
    if (batch) this.write({ in: "audio.in", frames: batch.frames, audio: batch.base64 });
  }

  // Engines -----------------------------------------------------------------------------------------------

  private wrapStt(stt: SttEngine): SttEngine {
    return {
      name: stt.name,
      speechStartIsReliable: stt.speechStartIsReliable,
      open: (options) => {
        this.write({ out: "stt.open" });
        let open = true;
        const session = stt.open({
          ...options,
          onEvent: (event) => {
            // After close() the call no longer listens: late results never reached it.
            if (open) this.write(sttInput(event));
            options.onEvent(event);
          },
        });
        return {
          sendAudio: (frame) => {
            this.callerFrames += 1;
            if (this.callerAudio) this.keepCallerAudio(this.callerAudio, frame);
            session.sendAudio(frame);
          },
          finalize: () => {
            this.write({ out: "stt.finalize" });
            session.finalize();
          },
          close: () => {
            if (open) {
              open = false;
              this.write({ out: "stt.close" });
            }
            return session.close();
          },
        };
      },
    };
  }

  private wrapLlm(llm: LlmClient): LlmClient {
    return {
      name: llm.name,
      stream: (request) => {
        const req = ++this.requests.llm;
        this.write({
          out: "llm.request",
          req,
          messages: [...request.messages],
          tools: request.tools.map((tool) => tool.name),
        });
        const stream = llm.stream(request);
        return this.recordStream(req, "llm", request.signal, stream, (chunk: LlmChunk) =>
          chunk.type === "text"
            ? { in: "llm.text", req, text: chunk.text }
            : { in: "llm.toolCall", req, call: chunk.call },
        );
      },
    };
  }

  private wrapTts(tts: TtsEngine): TtsEngine {
    return {
      name: tts.name,
      synthesize: (text, options) => {
        const req = ++this.requests.tts;
        this.write({ out: "tts.request", req, text });
        const audio = tts.synthesize(text, options);
        return this.recordStream(req, "tts", options.signal, audio, (piece: Uint8Array) => ({
          in: "tts.audio",
          req,
          ...this.audioRef(piece),
        }));
      },
    };
  }

  /**
   * Passes a streamed answer through, writing each item, its end or its error as inputs, and the call's abort
   * as an output. Once aborted, the rest of the stream (the engine's "aborted" error) never reached the call.
   */
  private recordStream<T>(
    req: number,
    engine: "llm" | "tts",
    signal: AbortSignal,
    source: AsyncIterable<T>,
    line: (item: T) => Untimed<TapeInput>,
  ): AsyncIterable<T> {
    let open = true;
    const onAbort = () => {
      if (!open) return;
      open = false;
      this.write({ out: `${engine}.abort`, req });
    };
    if (signal.aborted) onAbort();
    else signal.addEventListener("abort", onAbort, { once: true });
    const recorder = this;
    return {
      async *[Symbol.asyncIterator]() {
        try {
          for await (const item of source) {
            if (open) recorder.write(line(item));
            yield item;
          }
          if (open) recorder.write({ in: `${engine}.end`, req });
        } catch (error) {
          if (open) recorder.write({ in: `${engine}.error`, req, error: recordedError(engine, error) });
          throw error;
        } finally {
          open = false;
          signal.removeEventListener("abort", onAbort);
        }
      },
    };
  }

  private wrapTelephony(telephony: Telephony): Telephony {
    const rest = (action: () => Promise<void>, req: number) =>
      action().then(
        () => this.write({ in: "rest.done", req }),
        (error: unknown) => {
          this.write({ in: "rest.error", req, error: recordedError("telephony", error) });
          throw error;
        },
      );
    return {
      sendMedia: (mulaw) => {
        this.write({ out: "media", bytes: mulaw.length, sha: this.options.fingerprints.of(mulaw) });
        telephony.sendMedia(mulaw);
      },
      sendMark: (name) => {
        this.write({ out: "mark", name });
        telephony.sendMark(name);
      },
      sendClear: () => {
        this.write({ out: "clear" });
        telephony.sendClear();
      },
      closeStream: () => {
        this.write({ out: "closeStream" });
        telephony.closeStream();
      },
      hangUp: (callSid) => {
        const req = ++this.requests.rest;
        this.write({ out: "hangUp", req, callSid });
        return rest(() => telephony.hangUp(callSid), req);
      },
      transfer: (callSid, to) => {
        const req = ++this.requests.rest;
        this.write({ out: "transfer", req, callSid, to });
        return rest(() => telephony.transfer(callSid, to), req);
      },
    };
  }
}

function sttInput(event: SttEvent): Untimed<TapeInput> {
  switch (event.type) {
    case "failed":
      return { in: "stt.failed", error: recordedError("stt", event.error) };
    default: {
      const { type, ...fields } = event;
      return { in: `stt.${type}`, ...fields } as Untimed<TapeInput>;
    }
  }
}

export function recordedError(engine: EngineName, error: unknown): RecordedError {
  const engineError = asEngineError(engine, error);
  return { engine: engineError.engine, kind: engineError.kind, message: engineError.message };
}

/** An emitted event as plain JSON (an EngineError inside becomes its fields). */
function jsonSafe(event: { type: string }): { type: string } {
  return JSON.parse(JSON.stringify(event)) as { type: string };
}

/** Caller frames gathered into one reused buffer until a second is full. */
class CallerAudioBatch {
  private readonly buffer = new Uint8Array(CALLER_AUDIO_BATCH_BYTES);
  private length = 0;
  /** Frames that started in this batch. */
  frames = 0;

  /** Copies in what fits of `audio` and returns the rest (empty unless the batch is now full). */
  add(audio: Uint8Array): Uint8Array {
    const take = Math.min(this.buffer.length - this.length, audio.length);
    this.buffer.set(audio.subarray(0, take), this.length);
    this.length += take;
    return audio.subarray(take);
  }

  get full(): boolean {
    return this.length === this.buffer.length;
  }

  take(): { frames: number; base64: string } | undefined {
    if (this.length === 0) return undefined;
    const batch = {
      frames: this.frames,
      base64: Buffer.from(this.buffer.buffer, 0, this.length).toString("base64"),
    };
    this.length = 0;
    this.frames = 0;
    return batch;
  }
}
