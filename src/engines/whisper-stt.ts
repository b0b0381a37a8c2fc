/**
 * Whisper as a speech-to-text engine for calls: Whisper is a batch recogniser, so the Silero VAD segmenter
 * (vad/speech-segmenter.ts) decides when the caller speaks, and each segment is transcribed whole when it
 * ends. It speaks the vendor-neutral `SttEvent` vocabulary:
 * - segmenter speechStarted -> `speechStarted`;
 * - segmenter speechUpdate (about every second of speech) -> the open segment is transcribed, if no
 *   transcription of this call is in flight, and reported as `interim` (words for the barge-in gate while the
 *   caller keeps talking); an interim whose segment ended meanwhile is dropped (and its request aborted);
 * - segmenter speechEnded -> the whole segment, pre-roll included, is transcribed -> `final` (possibly empty:
 *   a cough) then `speechEnded`.
 * One call's events go out strictly in order: the next segment's `speechStarted` waits until the previous
 * segment's `final` and `speechEnded` are out.
 *
 * Failure policy: a transcription that fails once (timeout, 5xx, unreachable) is logged, reported through
 * `onTranscriptionFailed` (the metric), and the segment ends with empty words so the call moves on; a
 * failure no retry can fix (401/404, model files missing) is reported once as `failed`.
 */

import { EngineError, type SttEngine, type SttEvent, type SttSession } from "../../machines/engines.js";
import { messageOf } from "../error-message.js";
import type { EngineLogger } from "./engine-logger.js";
import { loadSileroVad, type SileroVad } from "./vad/silero-vad.js";
import {
  createSpeechSegmenter,
  type SpeechSegmentEvent,
  type SpeechSegmenter,
  type SpeechSegmenterSettings,
} from "./vad/speech-segmenter.js";
import { createOpenAiTranscriber } from "./whisper/openai-transcriber.js";
import { loadSherpaWhisper } from "./whisper/sherpa-transcriber.js";
import { type SegmentTranscriber, TranscriptionError, toWhisperRate } from "./whisper/transcriber.js";

/** The subset of a pino logger the engine (and its segmenter) uses. */

export interface WhisperSttOptions {
  /** WHISPER_BASE_URL: an OpenAI-compatible server; unset: Whisper in process through sherpa-onnx. */
  baseUrl?: string;
  /** WHISPER_MODEL (default "tiny.en"). */
  model?: string;
  /** WHISPER_MODEL_DIR: the in-process model's files (default: where `npm run models` puts them). */
  modelDir?: string;
  /** Default "en". */
  language?: string;
  /** Bearer token for the server; never logged. */
  apiKey?: string;
  /** Longest wait for one server transcription (default 10,000 ms). */
  timeoutMs?: number;
  /** VAD segmenter settings (thresholds, silence window, pre-roll, interim interval). */
  segmenter?: SpeechSegmenterSettings;
  /** The shared Silero VAD (default `loadSileroVad()`, the model shipped in models/). */
  loadVad?: () => Promise<SileroVad>;
  /** Replaces the back-end chosen from `baseUrl` (tests, other recognisers). */
  loadTranscriber?: () => Promise<SegmentTranscriber>;
  /** Called for every transcription that failed and was replaced by empty words: wire a counter here. */
  onTranscriptionFailed?: (error: EngineError) => void;
  logger?: Pick<EngineLogger, "warn" | "error">;
}

export interface WhisperSttSession extends SttSession {
  /**
   * Resolves once every frame sent so far has been judged by the VAD (and the engine is loaded, or failed to).
   * Lets replay and tests feed audio as fast as the VAD keeps up, with no clock.
   */
  drained(): Promise<void>;
}

export interface WhisperStt extends SttEngine {
  /** Opens at once; audio is kept until the VAD and the model are loaded. */
  open(options: { callId: string; onEvent: (event: SttEvent) => void }): WhisperSttSession;
}

export const WHISPER_STT_DEFAULTS = { model: "tiny.en", language: "en" } as const;

export function createWhisperStt(options: WhisperSttOptions = {}): WhisperStt {
  const model = options.model || WHISPER_STT_DEFAULTS.model;
  const language = options.language || WHISPER_STT_DEFAULTS.language;
  const loadTranscriber =
    options.loadTranscriber ??
    (options.baseUrl
      ? async () =>
          createOpenAiTranscriber({
            baseUrl: options.baseUrl as string,
            model,
            language,
            apiKey: options.apiKey,
            timeoutMs: options.timeoutMs,
          })
      : () => loadSherpaWhisper({ model, modelDir: options.modelDir, language }));
  // Loaded once for every call; a failed load is forgotten so the next call (after the fix) tries again.
  let transcriber: Promise<SegmentTranscriber> | undefined;
  const sharedTranscriber = () => {
    if (transcriber === undefined) {
      const loading = loadTranscriber();
      transcriber = loading;
      loading.catch(() => {
        if (transcriber === loading) transcriber = undefined;
      });
    }
    return transcriber;
  };
  const loadVad = options.loadVad ?? (() => loadSileroVad());
  return {
    name: options.baseUrl ? "whisper-server" : "whisper",
    // Silero tells speech from noise: speech that lasts may interrupt the agent before Whisper has a word.
    speechStartIsReliable: true,
    open: ({ callId, onEvent }) =>
      openSession({
        callId,
        onEvent,
        ready: Promise.all([loadVad(), sharedTranscriber()]),
        segmenter: options.segmenter ?? {},
        onTranscriptionFailed: options.onTranscriptionFailed,
        logger: options.logger,
      }),
  };
}

interface SessionOptions {
  callId: string;
  onEvent: (event: SttEvent) => void;
  ready: Promise<[SileroVad, SegmentTranscriber]>;
  segmenter: SpeechSegmenterSettings;
  onTranscriptionFailed: ((error: EngineError) => void) | undefined;
  logger: Pick<EngineLogger, "warn" | "error"> | undefined;
}

type EndedSegment = Extract<SpeechSegmentEvent, { type: "speechEnded" }>;
type OpenSegment = Extract<SpeechSegmentEvent, { type: "speechUpdate" }>;

function openSession(options: SessionOptions): WhisperSttSession {
  const { callId, logger } = options;
  /** Aborts every request of this call on close. */
  const lifetime = new AbortController();
  /** Frames that arrived before the VAD and the model were loaded (copies: the caller reuses its buffer). */
  let early: Uint8Array[] | undefined = [];
  let segmenter: SpeechSegmenter | undefined;
  let transcriber: SegmentTranscriber | undefined;
  /** The call's events, in order: each segment event's work runs after the previous one's. */
  let queue: Promise<void> = Promise.resolve();
  /** Bumped at each segment start: an interim of an older segment is stale. */
  let segment = 0;
  let segmentOpen = false;
  /** The interim transcription in flight, if any, so a segment end can abort it. */
  let interim: AbortController | undefined;
  let done = false;

  function emit(event: SttEvent): void {
    if (done) return;
    if (event.type === "failed") done = true;
    try {
      options.onEvent(event);
    } catch (error) {
      logger?.error({ callId, err: messageOf(error), event: event.type }, "whisper: the event handler threw");
    }
  }

  function enqueue(work: () => Promise<void> | void): void {
    queue = queue.then(work).catch((error: unknown) => {
      logger?.error({ callId, err: messageOf(error) }, "whisper: segment handling failed");
    });
  }

  async function transcribe(audio8k: Float32Array, signal: AbortSignal) {
    return (transcriber as SegmentTranscriber).transcribe(toWhisperRate(audio8k), signal);
  }

  /** Returns true when the call may go on (a transient failure), after reporting it. */
  function survived(error: unknown, what: "interim" | "final"): boolean {
    const failure =
      error instanceof TranscriptionError
        ? error
        : new TranscriptionError("unknown", `transcription failed: ${messageOf(error)}`, false, {
            cause: error,
          });
    if (failure.kind === "aborted") return true;
    if (failure.permanent) {
      // The call actor logs the failure it receives (once); a transient one it never sees is logged below.
      emit({ type: "failed", error: failure });
      return false;
    }
    logger?.warn(
      { callId, err: failure.message, kind: failure.kind, segment: what },
      what === "final"
        ? "whisper: transcription failed; the segment ends with no words"
        : "whisper: interim transcription failed; waiting for the next one",
    );
    options.onTranscriptionFailed?.(failure);
    return true;
  }

  function onInterim(update: OpenSegment): void {
    if (interim !== undefined) return;
    const ofSegment = segment;
    const request = new AbortController();
    interim = request;
    const signal = AbortSignal.any([lifetime.signal, request.signal]);
    transcribe(update.audio, signal).then(
      ({ text, confidence }) => {
        if (interim === request) interim = undefined;
        // Words of an open segment; emitted through the queue so they follow its speechStarted.
        enqueue(() => {
          if (segmentOpen && segment === ofSegment && !request.signal.aborted) {
            emit({ type: "interim", text, start: update.start, end: update.end, confidence });
          }
        });
      },
      (error: unknown) => {
        if (interim === request) interim = undefined;
        if (!request.signal.aborted) survived(error, "interim");
      },
    );
  }

  function onSegmentEvent(event: SpeechSegmentEvent): void {
    if (done) return;
    switch (event.type) {
      case "speechStarted":
        enqueue(() => {
          segment++;
          segmentOpen = true;
          emit({ type: "speechStarted", at: event.at });
        });
        return;
      case "speechUpdate":
        onInterim(event);
        return;
      case "speechEnded":
        // The open interim is stale now: free the back-end for the final.
        interim?.abort();
        interim = undefined;
        enqueue(() => finishSegment(event));
        return;
    }
  }

  async function finishSegment(ended: EndedSegment): Promise<void> {
    segmentOpen = false;
    let words = { text: "", confidence: 0 };
    try {
      words = await transcribe(ended.audio, lifetime.signal);
    } catch (error) {
      if (!survived(error, "final")) return;
    }
    emit({
      type: "final",
      text: words.text,
      start: ended.start,
      end: ended.end,
      confidence: words.confidence,
    });
    emit({ type: "speechEnded", at: ended.end });
  }

  const started = options.ready.then(
    ([vad, loaded]) => {
      if (done) return;
      transcriber = loaded;
      segmenter = createSpeechSegmenter({
        ...options.segmenter,
        vad,
        callId,
        onEvent: onSegmentEvent,
        ...(logger === undefined ? {} : { logger }),
      });
      for (const frame of early ?? []) segmenter.push(frame);
      early = undefined;
    },
    (error: unknown) => {
      const failure =
        error instanceof EngineError
          ? error
          : new EngineError("stt", "connect", `Whisper could not start: ${messageOf(error)}`, {
              cause: error,
            });
      early = undefined;
      emit({ type: "failed", error: failure });
    },
  );

  return {
    async drained() {
      await started;
      await segmenter?.drained();
    },
    sendAudio(frame) {
      if (done) return;
      if (segmenter !== undefined) segmenter.push(frame);
      else early?.push(frame.slice());
    },
    finalize() {
      if (done) return;
      if (segmenter === undefined) return;
      segmenter.flush().catch((error: unknown) => {
        logger?.error({ callId, err: messageOf(error) }, "whisper: flushing the open segment failed");
      });
    },
    async close() {
      done = true;
      early = undefined;
      segmenter?.close();
      lifetime.abort();
    },
  };
}
