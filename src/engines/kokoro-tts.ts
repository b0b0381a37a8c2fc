/**
 * Kokoro-82M in process, through kokoro-js (transformers.js + onnxruntime-node), as a `TtsEngine`.
 *
 * The model is loaded once per process and shared by every call through a bounded queue (one synthesis at a
 * time: a run already uses both cores). Each segment is split into sentences with kokoro-js' own splitter and
 * each sentence is one `generate` (one ONNX run, one queue turn):
 * - the graph returns a sentence's whole waveform at once, so no finer streaming exists; kokoro-js' `stream()`
 *   is the same per-sentence loop (and in 1.2.1, given a string, never closes its splitter, so it stalls
 *   before the last sentence);
 * - a queue turn per sentence lets another call's sentence go between two of ours, and an aborted segment
 *   stops at the next sentence instead of synthesising to the end;
 * - the chunker hands over one sentence or clause at a time, so usually this is a single `generate`.
 */
import type { GenerateOptions, KokoroTTS } from "kokoro-js";
import { EngineError, type TtsEngine } from "../../machines/engines.js";
import { messageOf } from "../error-message.js";
import type { EngineLogger } from "./engine-logger.js";
import { createLoadProgressLogger } from "./kokoro/load-progress.js";
import { type KokoroDtype, locateLocalModel } from "./kokoro/model-files.js";
import { ModelQueue } from "./model-queue.js";
import { type PcmPiece, synthesisError, toTelephonyAudio, ttsAbortedError, warmUpTts } from "./tts-audio.js";

export type { KokoroDtype } from "./kokoro/model-files.js";

export const KOKORO_DEFAULT_MODEL_ID = "onnx-community/Kokoro-82M-v1.0-ONNX";
export const KOKORO_DEFAULT_VOICE = "af_heart";

export interface KokoroTtsOptions {
  /** Hugging Face model id (default `onnx-community/Kokoro-82M-v1.0-ONNX`). */
  modelId?: string;
  /** ONNX weights' precision (default `q8`, the 92 MB quantized graph). */
  dtype?: KokoroDtype;
  /**
   * Load from this local directory and never touch the network: the model directory itself, or a root
   * holding `<modelId>/`. Unset: download from Hugging Face on first start (then transformers.js' cache).
   */
  modelDir?: string;
  /** kokoro-js voice id (default `af_heart`). */
  voice?: string;
  /** Speaking rate, 1 = normal (default 1). */
  speed?: number;
  /** Sentences waiting for the model beyond the running ones; one more is refused (default 8). */
  maxWaiting?: number;
  /** Spoken once at load so the first caller does not pay for lazy initialisation (default "Hello."). */
  warmUpText?: string;
  logger?: Pick<EngineLogger, "debug" | "info">;
}

export interface KokoroTts extends TtsEngine {
  readonly voice: string;
  /** Live queue depth of the shared model, for metrics. */
  readonly queue: { readonly running: number; readonly waiting: number };
}

interface LoadedModel {
  tts: KokoroTTS;
  splitSentences: (text: string) => string[];
  queue: ModelQueue;
}

/** One model per process and configuration, however many engines (voices) use it. */
const loadedModels = new Map<string, Promise<LoadedModel>>();

/**
 * Loads (or reuses) the shared model, checks the voice and speaks `warmUpText` once with it. Resolves when
 * the engine is ready for calls; rejects with an `EngineError` that says what is wrong (missing file, unknown
 * voice, download failure). The queue bound of the first load applies to the shared model.
 */
export async function loadKokoro(options: KokoroTtsOptions = {}): Promise<KokoroTts> {
  const modelId = options.modelId ?? KOKORO_DEFAULT_MODEL_ID;
  const dtype = options.dtype ?? "q8";
  const voice = options.voice ?? KOKORO_DEFAULT_VOICE;
  const speed = options.speed ?? 1;
  const logger = options.logger;
  if (!Number.isFinite(speed) || speed <= 0) {
    throw new EngineError("tts", "connect", `Kokoro speed must be a positive number, got ${speed}`);
  }

  const key = JSON.stringify([modelId, dtype, options.modelDir ?? null]);
  let loading = loadedModels.get(key);
  if (loading === undefined) {
    loading = loadModel({
      modelId,
      dtype,
      modelDir: options.modelDir,
      maxWaiting: options.maxWaiting ?? 8,
      logger,
    });
    loadedModels.set(key, loading);
    // A failed load is not remembered, so fixing the files and loading again works without a restart.
    loading.catch(() => loadedModels.delete(key));
  }
  const model = await loading;

  if (!Object.hasOwn(model.tts.voices, voice)) {
    throw new EngineError(
      "tts",
      "connect",
      `Kokoro voice "${voice}" does not exist; choose one of ${Object.keys(model.tts.voices).join(", ")}`,
    );
  }
  const engine = createEngine(model, voice, speed, logger);
  await warmUpTts(engine, options.warmUpText ?? "Hello.", (fields) =>
    logger?.info({ ...fields, voice: engine.voice }, "kokoro ready"),
  );
  return engine;
}

async function loadModel(settings: {
  modelId: string;
  dtype: KokoroDtype;
  modelDir: string | undefined;
  maxWaiting: number;
  logger: Pick<EngineLogger, "debug" | "info"> | undefined;
}): Promise<LoadedModel> {
  const { dtype, logger } = settings;
  const queue = new ModelQueue({
    engine: "tts",
    label: "Kokoro synthesis",
    maxRunning: 1,
    maxWaiting: settings.maxWaiting,
  });
  // Imported on demand: loading onnxruntime's native library costs time and memory that a process using
  // another TTS provider should not pay.
  const [{ KokoroTTS, TextSplitterStream }, { env }] = await Promise.all([
    import("kokoro-js"),
    import("@huggingface/transformers"),
  ]);

  let source = settings.modelId;
  if (settings.modelDir === undefined) {
    env.allowRemoteModels = true;
    env.useFSCache = true;
  } else {
    // An absolute directory is not a Hub id, so transformers.js reads it as a path and never builds a Hub
    // URL; remote loading and the download cache are switched off as well so nothing can shadow the files.
    source = await locateLocalModel(settings.modelDir, settings.modelId, dtype);
    env.allowRemoteModels = false;
    env.useFSCache = false;
  }

  logger?.info({ engine: "tts", model: source, dtype }, "kokoro model loading");
  const startedAt = performance.now();
  let tts: KokoroTTS;
  try {
    tts = await KokoroTTS.from_pretrained(source, {
      dtype,
      // The native onnxruntime-node backend: several times faster than WebAssembly on a server.
      device: "cpu",
      progress_callback: logger ? createLoadProgressLogger(logger) : undefined,
    });
  } catch (error) {
    throw new EngineError(
      "tts",
      "connect",
      `Kokoro model ${source} (${dtype}) failed to load: ${messageOf(error)}`,
      {
        cause: error,
      },
    );
  }
  logger?.info(
    { engine: "tts", model: source, loadMs: Math.round(performance.now() - startedAt) },
    "kokoro model loaded",
  );

  return {
    tts,
    splitSentences(text) {
      const splitter = new TextSplitterStream();
      splitter.push(text);
      splitter.close();
      return [...splitter];
    },
    queue,
  };
}

function createEngine(
  model: LoadedModel,
  voice: string,
  speed: number,
  logger: Pick<EngineLogger, "debug" | "info"> | undefined,
): KokoroTts {
  // Checked against `tts.voices` by the caller; kokoro-js types its voices as a literal union.
  const generateOptions: GenerateOptions = { voice: voice as NonNullable<GenerateOptions["voice"]>, speed };

  return {
    name: "kokoro",
    voice,
    queue: model.queue,
    async *synthesize(text, { callId, signal }) {
      if (signal.aborted) throw ttsAbortedError();
      const startedAt = performance.now();
      const sentences = model.splitSentences(text);
      async function* sentenceAudio(): AsyncGenerator<PcmPiece> {
        for (const sentence of sentences) {
          const audio = await model.queue
            .run(() => model.tts.generate(sentence, generateOptions), signal)
            .catch((error: unknown) => {
              throw synthesisError("Kokoro", error);
            });
          yield { samples: audio.audio, sampleRate: audio.sampling_rate };
        }
      }
      const audioMs = yield* toTelephonyAudio(sentenceAudio(), signal);
      logger?.debug(
        {
          callId,
          engine: "tts",
          sentences: sentences.length,
          chars: text.length,
          audioMs,
          elapsedMs: Math.round(performance.now() - startedAt),
        },
        "kokoro segment synthesised",
      );
    },
  };
}
