/**
 * Which files a Kokoro model directory must hold, and where the directory is. transformers.js, asked for a
 * missing local file, logs a warning and fails with a message about `local_files_only`; checking first lets
 * the start-up error name every missing file and the dtype that needs it.
 */
import { stat } from "node:fs/promises";
import { join, resolve } from "node:path";
import { EngineError } from "../../../machines/engines.js";

export type KokoroDtype = "fp32" | "fp16" | "q8" | "q4" | "q4f16";

/** The graph transformers.js loads for each dtype kokoro-js accepts (its DEFAULT_DTYPE_SUFFIX_MAPPING). */
export const KOKORO_GRAPH_FILES: Readonly<Record<KokoroDtype, string>> = {
  fp32: "onnx/model.onnx",
  fp16: "onnx/model_fp16.onnx",
  q8: "onnx/model_quantized.onnx",
  q4: "onnx/model_q4.onnx",
  q4f16: "onnx/model_q4f16.onnx",
};

const TEXT_FILES = ["config.json", "tokenizer.json", "tokenizer_config.json"] as const;

export function isKokoroDtype(value: string): value is KokoroDtype {
  return Object.hasOwn(KOKORO_GRAPH_FILES, value);
}

/**
 * The absolute directory holding the model files. `modelDir` may be that directory itself or, like
 * transformers.js' `env.localModelPath` and a Hugging Face cache, a root with the model under
 * `<modelDir>/<modelId>/` (for example `models/onnx-community/Kokoro-82M-v1.0-ONNX/`).
 */
export async function locateLocalModel(
  modelDir: string,
  modelId: string,
  dtype: KokoroDtype,
): Promise<string> {
  const nested = resolve(modelDir, modelId);
  const dir = (await isDirectory(nested)) ? nested : resolve(modelDir);
  if (!(await isDirectory(dir))) {
    throw new EngineError("tts", "connect", `Kokoro model directory "${dir}" does not exist`);
  }
  const required = [...TEXT_FILES, KOKORO_GRAPH_FILES[dtype]];
  const missing: string[] = [];
  for (const file of required) {
    if (!(await isFile(join(dir, file)))) missing.push(file);
  }
  if (missing.length > 0) {
    throw new EngineError(
      "tts",
      "connect",
      `Kokoro model directory "${dir}" is missing ${missing.join(", ")} ` +
        `(dtype ${dtype} needs ${required.join(", ")})`,
    );
  }
  return dir;
}

async function isDirectory(path: string): Promise<boolean> {
  return (await stat(path).catch(() => undefined))?.isDirectory() ?? false;
}

async function isFile(path: string): Promise<boolean> {
  return (await stat(path).catch(() => undefined))?.isFile() ?? false;
}
