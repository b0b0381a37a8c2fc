/**
 * Whisper in process through sherpa-onnx-node's `OfflineRecognizer`, on sherpa-onnx's int8 export of OpenAI
 * Whisper (`<model>-encoder.int8.onnx`, `<model>-decoder.int8.onnx`, `<model>-tokens.txt`, as
 * `npm run models -- download whisper` fetches them). Both loading (`createAsync`) and decoding
 * (`decodeAsync`) run on sherpa's native worker threads, so a segment being decoded never stalls the event
 * loop that carries every call's audio.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { messageOf } from "../../error-message.js";
import { DEFAULT_CHOICES, DEFAULT_MODELS_DIR, describeModel } from "../../models/model-catalog.js";
import { type SegmentTranscriber, TranscriptionError, WHISPER_SAMPLE_RATE } from "./transcriber.js";

export interface SherpaWhisperOptions {
  /** Whisper size, e.g. `tiny.en` (WHISPER_MODEL). */
  model: string;
  /** Directory holding the three files (WHISPER_MODEL_DIR); default: where the models command puts them. */
  modelDir?: string;
  /** Default "en"; sherpa ignores it for English-only (`.en`) models. */
  language?: string;
  /** Native threads per decode (default 1: calls decode in parallel, not one call on every core). */
  numThreads?: number;
}

/**
 * The files the recognizer needs, where they are looked for: `modelDir`, else the models command's place
 * in `modelsDir` (MODELS_DIR, default the repository's models/).
 */
export function sherpaWhisperFiles(
  options: Pick<SherpaWhisperOptions, "model" | "modelDir"> & { modelsDir?: string },
) {
  const catalog = describeModel("whisper", { ...DEFAULT_CHOICES, whisperModel: options.model });
  const dir = options.modelDir || join(options.modelsDir ?? DEFAULT_MODELS_DIR, catalog.subdir);
  const [encoder, decoder, tokens] = catalog.requiredFiles.map((file) => join(dir, file)) as [
    string,
    string,
    string,
  ];
  return { dir, encoder, decoder, tokens };
}

/** The in-process model's files that are not there (start-up reports them; loading refuses without them). */
export function missingWhisperFiles(options: Pick<SherpaWhisperOptions, "model" | "modelDir">): string[] {
  const files = sherpaWhisperFiles(options);
  return [files.encoder, files.decoder, files.tokens].filter((file) => !existsSync(file));
}

export async function loadSherpaWhisper(options: SherpaWhisperOptions): Promise<SegmentTranscriber> {
  const files = sherpaWhisperFiles(options);
  const missing = missingWhisperFiles(options);
  if (missing.length > 0) {
    throw new TranscriptionError(
      "connect",
      `Whisper ${options.model} model files are missing: ${missing.join(", ")}. ` +
        `Fetch them with \`npm run models -- download whisper --whisper-model ${options.model}\` and set ` +
        "the WHISPER_MODEL_DIR it prints, or set WHISPER_BASE_URL to use a Whisper server instead",
      true,
    );
  }
  const { OfflineRecognizer } = await import("sherpa-onnx-node");
  let recognizer: InstanceType<typeof OfflineRecognizer>;
  try {
    recognizer = await OfflineRecognizer.createAsync({
      featConfig: { sampleRate: WHISPER_SAMPLE_RATE, featureDim: 80 },
      modelConfig: {
        whisper: {
          encoder: files.encoder,
          decoder: files.decoder,
          language: options.model.endsWith(".en") ? "" : (options.language ?? "en"),
          task: "transcribe",
        },
        tokens: files.tokens,
        numThreads: options.numThreads ?? 1,
        provider: "cpu",
      },
      decodingMethod: "greedy_search",
    });
  } catch (error) {
    throw new TranscriptionError(
      "connect",
      `Whisper model in ${files.dir} could not be loaded (${messageOf(error)}); ` +
        "re-fetch it with `npm run models -- download whisper` or fix WHISPER_MODEL_DIR",
      true,
      { cause: error },
    );
  }
  return {
    describe: `sherpa-onnx Whisper ${options.model} (${files.dir})`,
    async transcribe(audio, signal) {
      if (signal.aborted) throw new TranscriptionError("aborted", "transcription aborted", false);
      const stream = recognizer.createStream();
      stream.acceptWaveform({ samples: audio, sampleRate: WHISPER_SAMPLE_RATE });
      let text: string;
      try {
        text = (await recognizer.decodeAsync(stream)).text;
      } catch (error) {
        throw new TranscriptionError("unknown", `Whisper decoding failed: ${messageOf(error)}`, false, {
          cause: error,
        });
      }
      // A native decode cannot be interrupted; an abort only discards its result.
      if (signal.aborted) throw new TranscriptionError("aborted", "transcription aborted", false);
      return { text: text.trim(), confidence: 1 };
    },
  };
}
