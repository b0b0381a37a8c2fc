/**
 * The tail every TTS adapter shares: the engine's PCM, at whatever rate the engine speaks (Kokoro and OpenAI
 * PCM 24 kHz, Piper 22.05 kHz), becomes the mu-law 8 kHz pieces a `TtsEngine` yields, and an aborted signal
 * becomes the `EngineError` of kind "aborted" the port promises. One owner, so every engine converts, flushes
 * and stops alike.
 */
import { EngineError, type TtsEngine } from "../../machines/engines.js";
import { createOutboundConverter, type OutboundConverter, TELEPHONY_RATE } from "../audio/converters.js";
import { messageOf } from "../error-message.js";

/** A piece of an engine's audio: floats in [-1, 1] or int16, mono, at `sampleRate`. */
export interface PcmPiece {
  samples: Float32Array | Int16Array;
  sampleRate: number;
}

export function ttsAbortedError(): EngineError {
  return new EngineError("tts", "aborted", "speech synthesis aborted");
}

/**
 * Converts `pieces` to mu-law 8 kHz as they arrive, yielding each non-empty result, then the resampler's tail.
 * The signal is checked after every piece (synthesis may have run while the caller barged in) and before the
 * tail, so nothing is yielded once it aborted. Returns the milliseconds of audio yielded, for the adapters'
 * log lines. One stream has one rate; a change in the middle is an engine fault, reported as "protocol".
 */
export async function* toTelephonyAudio(
  pieces: AsyncIterable<PcmPiece>,
  signal: AbortSignal,
): AsyncGenerator<Uint8Array, number> {
  if (signal.aborted) throw ttsAbortedError();
  let converter: OutboundConverter | undefined;
  let rate: number | undefined;
  let bytes = 0;
  for await (const piece of pieces) {
    if (rate !== undefined && piece.sampleRate !== rate) {
      throw new EngineError(
        "tts",
        "protocol",
        `the engine changed its sample rate from ${rate} to ${piece.sampleRate} Hz within one segment`,
      );
    }
    rate = piece.sampleRate;
    converter ??= createOutboundConverter(rate);
    const mulaw = converter.push(piece.samples);
    if (signal.aborted) throw ttsAbortedError();
    bytes += mulaw.length;
    if (mulaw.length > 0) yield mulaw;
  }
  if (converter !== undefined) {
    const tail = converter.flush();
    if (signal.aborted) throw ttsAbortedError();
    bytes += tail.length;
    if (tail.length > 0) yield tail;
  }
  return (bytes * 1000) / TELEPHONY_RATE;
}

/**
 * Speaks `text` once and throws the audio away, so the first caller does not pay the engine's first-run
 * costs (graph optimisation, allocations); `report` gets how long it took and how much audio it made.
 */
export async function warmUpTts(
  engine: TtsEngine,
  text: string,
  report: (fields: { engine: "tts"; audioMs: number; elapsedMs: number }) => void,
): Promise<void> {
  const startedAt = performance.now();
  let bytes = 0;
  for await (const piece of engine.synthesize(text, {
    callId: "warm-up",
    signal: new AbortController().signal,
  })) {
    bytes += piece.length;
  }
  report({ engine: "tts", audioMs: bytes / 8, elapsedMs: Math.round(performance.now() - startedAt) });
}

/** A synthesis failure as an EngineError naming the engine, unless it already is one. */
export function synthesisError(engine: string, error: unknown): EngineError {
  if (error instanceof EngineError) return error;
  return new EngineError("tts", "unknown", `${engine} synthesis failed: ${messageOf(error)}`, {
    cause: error,
  });
}
