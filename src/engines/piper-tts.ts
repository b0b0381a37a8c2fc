import type sherpa from "sherpa-onnx-node";
import { EngineError, type TtsEngine } from "../../machines/engines.js";
import { messageOf } from "../error-message.js";
import type { EngineLogger } from "./engine-logger.js";
import { ModelQueue } from "./model-queue.js";
import { locatePiperVoice } from "./piper/voice-files.js";
import { type PcmPiece, synthesisError, toTelephonyAudio, ttsAbortedError, warmUpTts } from "./tts-audio.js";

export { PIPER_DEFAULT_VOICE_PATH } from "./piper/voice-files.js";

export interface PiperTtsOptions {
  /** PIPER_VOICE: the voice's .onnx (default: en_US-lessac-medium where `npm run models -- download piper` puts it). */
  voicePath?: string;
  /** Phoneme duration: above 1 speaks slower (default 1). */
  lengthScale?: number;
  /** Speaker of a multi-speaker voice (default 0). */
  speakerId?: number;
  /** ONNX threads per sentence (default 1, sherpa-onnx's own default). */
  numThreads?: number;
  /** Sentences waiting for the voice beyond the running one; one more is refused (default 8). */
  maxWaiting?: number;
  /** Spoken once at load so the first caller does not pay for lazy initialisation (default "Hello."). */
  warmUpText?: string;
  /** Where to look for espeak-ng data when the voice has none (default: Debian's espeak-ng-data package). */
  systemEspeakDataDirs?: readonly string[];
  logger?: Pick<EngineLogger, "debug" | "info">;
}

export interface PiperTts extends TtsEngine {
  readonly voicePath: string;
  /** The voice's own rate, read from the model (22050 Hz for the medium voices). */
  readonly sampleRate: number;
  /** Live queue depth, for metrics. */
  readonly queue: { readonly running: number; readonly waiting: number };
}

/**
 * Checks the voice's files, loads it and speaks `warmUpText` once. Resolves when the engine is ready for
 * calls; rejects with an `EngineError` that says what is missing and how to get it.
 *
 * espeak-ng is initialised once per process by sherpa-onnx, with the data directory of the first voice
 * loaded; a second voice in the same process uses that data too.
 */
export async function loadPiperTts(options: PiperTtsOptions = {}): Promise<PiperTts> {
  const lengthScale = options.lengthScale ?? 1;
  if (!Number.isFinite(lengthScale) || lengthScale <= 0) {
    throw new EngineError(
      "tts",
      "connect",
      `Piper length scale must be a positive number, got ${lengthScale}`,
    );
  }
  const { logger } = options;
  const files = await locatePiperVoice(options);
  logger?.info({ engine: "tts", voice: files.model, espeakData: files.espeakDataDir }, "piper voice loading");
  const startedAt = performance.now();
  // Imported on demand: the native addon and onnxruntime cost memory a process using another TTS should not pay.
  const { default: sherpaOnnx } = await import("sherpa-onnx-node");
  let tts: sherpa.OfflineTts;
  try {
    tts = await sherpaOnnx.OfflineTts.createAsync({
      model: {
        vits: { model: files.model, tokens: files.tokens, dataDir: files.espeakDataDir, lengthScale },
        numThreads: options.numThreads ?? 1,
        provider: "cpu",
        debug: 0,
      },
      maxNumSentences: 1,
    });
  } catch (error) {
    throw new EngineError(
      "tts",
      "connect",
      `Piper voice ${files.model} failed to load: ${messageOf(error)}`,
      {
        cause: error,
      },
    );
  }
  logger?.info(
    {
      engine: "tts",
      voice: files.model,
      sampleRate: tts.sampleRate,
      loadMs: Math.round(performance.now() - startedAt),
    },
    "piper voice loaded",
  );

  const engine = createEngine(tts, {
    voicePath: files.model,
    speakerId: options.speakerId ?? 0,
    queue: new ModelQueue({
      engine: "tts",
      label: "Piper synthesis",
      maxRunning: 1,
      maxWaiting: options.maxWaiting ?? 8,
    }),
    logger,
  });
  await warmUpTts(engine, options.warmUpText ?? "Hello.", (fields) =>
    logger?.info({ ...fields, voice: engine.voicePath }, "piper ready"),
  );
  return engine;
}

function createEngine(
  tts: sherpa.OfflineTts,
  settings: {
    voicePath: string;
    speakerId: number;
    queue: ModelQueue;
    logger: Pick<EngineLogger, "debug" | "info"> | undefined;
  },
): PiperTts {
  const { queue, logger } = settings;
  const sampleRate = tts.sampleRate;

  /** Each sentence's audio as sherpa-onnx hands it over, until the text is done. */
  async function* sentenceAudio(text: string, signal: AbortSignal): AsyncGenerator<PcmPiece> {
    const ready: Float32Array[] = [];
    let outcome: { error?: unknown } | undefined;
    let wake: (() => void) | undefined;
    // The consumer stopped reading (the segment was dropped): no use synthesising the rest.
    let abandoned = false;
    queue
      .run(
        () =>
          tts.generateAsync({
            text,
            sid: settings.speakerId,
            // The speaking rate is the voice's lengthScale; speed 1 leaves it alone.
            speed: 1,
            onProgress({ samples }) {
              // Copied: the array may view memory the addon owns (enableExternalBuffer defaults to true).
              ready.push(samples.slice());
              wake?.();
              // false: sherpa-onnx stops before its next sentence.
              return !signal.aborted && !abandoned;
            },
          }),
        signal,
      )
      .then(
        () => {
          outcome = {};
          wake?.();
        },
        (error: unknown) => {
          outcome = { error };
          wake?.();
        },
      );
    try {
      for (;;) {
        const samples = ready.shift();
        if (samples !== undefined) {
          yield { samples, sampleRate };
        } else if (outcome !== undefined) {
          if ("error" in outcome) throw synthesisError("Piper", outcome.error);
          return;
        } else {
          await new Promise<void>((resolve) => {
            wake = resolve;
          });
          wake = undefined;
        }
      }
    } finally {
      abandoned = true;
    }
  }

  return {
    name: "piper",
    voicePath: settings.voicePath,
    sampleRate,
    queue,
    async *synthesize(text, { callId, signal }) {
      if (signal.aborted) throw ttsAbortedError();
      if (text.trim() === "") return;
      const startedAt = performance.now();
      const audioMs = yield* toTelephonyAudio(sentenceAudio(text, signal), signal);
      logger?.debug(
        {
          callId,
          engine: "tts",
          chars: text.length,
          audioMs,
          elapsedMs: Math.round(performance.now() - startedAt),
        },
        "piper segment synthesised",
      );
    },
  };
}
