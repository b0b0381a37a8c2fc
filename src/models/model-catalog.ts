/**
 * The models `npm run models` can fetch, where each comes from and where it goes. One entry per engine that
 * loads weights; the layout under the models directory is the one each engine's loader reads, so the line
 * printed after a download can be pasted into `.env` as is.
 */
import { join } from "node:path";
import { KOKORO_GRAPH_FILES, type KokoroDtype } from "../engines/kokoro/model-files.js";
import { PACKAGE_ROOT } from "../package-root.js";
import type { HubFile } from "./hub-download.js";

/** The repository's own models/ folder: the Silero VAD ships there, the others are ignored by git there. */
export const DEFAULT_MODELS_DIR = join(PACKAGE_ROOT, "models");

export type ModelName = "kokoro" | "whisper" | "llm" | "piper" | "vad";
export const MODEL_NAMES: readonly ModelName[] = ["kokoro", "whisper", "llm", "piper", "vad"];

export interface ModelChoices {
  /** Kokoro graph precision (KOKORO_DTYPE). */
  kokoroDtype: KokoroDtype;
  /** Whisper size (WHISPER_MODEL), e.g. tiny.en. */
  whisperModel: string;
  /** Piper voice, e.g. en_US-lessac-medium. */
  piperVoice: string;
}

export const DEFAULT_CHOICES: ModelChoices = {
  kokoroDtype: "q8",
  whisperModel: "tiny.en",
  piperVoice: "en_US-lessac-medium",
};

export interface DownloadableModel {
  name: ModelName;
  /** Hugging Face repository the files come from. */
  repo: string;
  revision: string;
  /** Directory under the models directory that receives the files (the repository's layout is kept). */
  subdir: string;
  /** Files that must be present for the engine to load. */
  requiredFiles: readonly string[];
  /** Folders fetched whole (every file under them), e.g. Piper's espeak-ng-data. */
  requiredFolders: readonly string[];
  /**
   * The required files' size and checksum, fixed here instead of taken from the repository's listing: a
   * revision such as "main" can move, and a model the server loads by default must be the one tested.
   */
  pinnedFiles?: readonly HubFile[];
  /** What to put in `.env` once the files are in `modelsDir`. */
  envLine(modelsDir: string): string;
  license: string;
}

/**
 * The embedded LLM's default model: Qwen3 1.7B instruct at Q4_K_M, small enough for a CPU, good enough
 * to hold a phone conversation with its thinking off (Apache-2.0).
 */
export const DEFAULT_LLM_FILE: HubFile = {
  path: "Qwen3-1.7B-Q4_K_M.gguf",
  size: 1_107_409_472,
  checksum: { algorithm: "sha256", hex: "b139949c5bd74937ad8ed8c8cf3d9ffb1e99c866c823204dc42c0d91fa181897" },
};

/** Where `npm run models -- download llm` puts the GGUF: what LLM_MODEL_PATH defaults to. */
export function defaultLlmPath(modelsDir: string): string {
  const model = describeModel("llm", DEFAULT_CHOICES);
  return join(modelsDir, model.subdir, DEFAULT_LLM_FILE.path);
}

/** Where `npm run models -- download piper` puts a voice's graph: what PIPER_VOICE defaults to. */
export function piperVoicePath(modelsDir: string, voice: string): string {
  const model = describeModel("piper", { ...DEFAULT_CHOICES, piperVoice: voice });
  return join(modelsDir, model.subdir, `${voice}.onnx`);
}

export function describeModel(name: Exclude<ModelName, "vad">, choices: ModelChoices): DownloadableModel {
  switch (name) {
    case "kokoro":
      return {
        name,
        repo: "onnx-community/Kokoro-82M-v1.0-ONNX",
        revision: "main",
        subdir: "onnx-community/Kokoro-82M-v1.0-ONNX",
        // The voices ship inside the kokoro-js package; only the graph and the tokenizer come from the Hub.
        requiredFiles: [
          "config.json",
          "tokenizer.json",
          "tokenizer_config.json",
          KOKORO_GRAPH_FILES[choices.kokoroDtype],
        ],
        requiredFolders: [],
        // kokoro-tts accepts the root and finds `<root>/onnx-community/Kokoro-82M-v1.0-ONNX/` itself.
        envLine: (dir) => `KOKORO_MODEL_DIR=${dir} KOKORO_DTYPE=${choices.kokoroDtype}`,
        license: "Apache-2.0",
      };
    case "whisper": {
      // sherpa-onnx's int8 export of OpenAI Whisper: what sherpa-onnx-node's OfflineRecognizer loads.
      const model = choices.whisperModel;
      const subdir = `sherpa-onnx-whisper-${model}`;
      return {
        name,
        repo: `csukuangfj/sherpa-onnx-whisper-${model}`,
        revision: "main",
        subdir,
        requiredFiles: [`${model}-encoder.int8.onnx`, `${model}-decoder.int8.onnx`, `${model}-tokens.txt`],
        requiredFolders: [],
        envLine: (dir) => `WHISPER_MODEL=${model} WHISPER_MODEL_DIR=${join(dir, subdir)}`,
        license: "MIT",
      };
    }
    case "llm":
      return {
        name,
        repo: "unsloth/Qwen3-1.7B-GGUF",
        revision: "main",
        subdir: "unsloth/Qwen3-1.7B-GGUF",
        requiredFiles: [DEFAULT_LLM_FILE.path],
        requiredFolders: [],
        pinnedFiles: [DEFAULT_LLM_FILE],
        envLine: (dir) => `LLM_MODEL_PATH=${defaultLlmPath(dir)}`,
        license: "Apache-2.0",
      };
    case "piper": {
      // The Piper voice as sherpa-onnx repackages it: the VITS graph, its tokens and the espeak-ng data the
      // phonemizer reads, side by side as PIPER_VOICE expects them.
      const voice = choices.piperVoice;
      const subdir = `vits-piper-${voice}`;
      return {
        name,
        repo: `csukuangfj/vits-piper-${voice}`,
        revision: "main",
        subdir,
        requiredFiles: [`${voice}.onnx`, "tokens.txt"],
        requiredFolders: ["espeak-ng-data"],
        envLine: (dir) => `PIPER_VOICE=${piperVoicePath(dir, voice)}`,
        license: "MIT (voice: see the repository's MODEL_CARD)",
      };
    }
  }
}
