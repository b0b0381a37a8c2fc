/**
 * What the Whisper engine needs from a back-end: the text of one finished (or still open) speech segment.
 * Two back-ends implement it, an OpenAI-compatible `/v1/audio/transcriptions` server and sherpa-onnx in
 * process; the engine owns the segmenting, ordering and failure policy, the back-ends only transcribe.
 */
import { EngineError, type EngineErrorKind } from "../../../machines/engines.js";
import { StreamingResampler } from "../../audio/resampler.js";

/** Whisper's own input rate: both back-ends get the segment at 16 kHz. */
export const WHISPER_SAMPLE_RATE = 16_000;

export interface Transcription {
  text: string;
  /** 0..1 when the back-end reports one; 1 otherwise (Whisper's JSON answer carries no confidence). */
  confidence: number;
}

export interface SegmentTranscriber {
  /** Names the back-end and where it runs, for log lines (no secrets). */
  readonly describe: string;
  /** `audio`: 16 kHz mono floats in [-1, 1). Rejects with a `TranscriptionError`. */
  transcribe(audio: Float32Array, signal: AbortSignal): Promise<Transcription>;
}

/**
 * A failed transcription. `permanent`: retrying cannot help (bad key, unknown model, missing model files),
 * so the engine reports `failed` instead of carrying on with empty words.
 */
export class TranscriptionError extends EngineError {
  constructor(
    kind: EngineErrorKind,
    message: string,
    readonly permanent: boolean,
    options?: { cause?: unknown },
  ) {
    super("stt", kind, message, options);
  }
}

/** The caller's 8 kHz segment at Whisper's 16 kHz, converted in one go (a fresh filter per segment). */
export function toWhisperRate(audio8k: Float32Array): Float32Array {
  const resampler = new StreamingResampler(8000, WHISPER_SAMPLE_RATE);
  const head = resampler.process(audio8k);
  const tail = resampler.flush();
  const out = new Float32Array(head.length + tail.length);
  out.set(head);
  out.set(tail, head.length);
  return out;
}
