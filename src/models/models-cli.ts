/**
 * `npm run models -- list | download <kokoro|whisper|llm|piper|vad> [--dir D]`: puts the weights each engine
 * loads where its `*_MODEL_DIR` / `PIPER_VOICE` setting can point, for machines that must start offline,
 * and says what is installed where.
 */
import { copyFile, mkdir } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { isKokoroDtype } from "../engines/kokoro/model-files.js";
import { DownloadError } from "./hub-download.js";
import {
  DEFAULT_CHOICES,
  DEFAULT_MODELS_DIR,
  describeModel,
  MODEL_NAMES,
  type ModelChoices,
  type ModelName,
} from "./model-catalog.js";
import { exists, fetchModel, hubSource, missingModelFiles, modelDirectory } from "./model-fetch.js";
import { createProgressReporter } from "./progress-reporter.js";

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");

export { DEFAULT_MODELS_DIR };

const SHIPPED_VAD = join(REPO_ROOT, "models/silero-vad/silero_vad.onnx");

export const MODELS_USAGE = `usage: npm run models -- <command> [options]

commands:
  list                      what is installed in the models directory, and what each engine needs
  download <model>          fetch a model for offline use, with checksums; <model> is one of
                            kokoro   Kokoro-82M voice (TTS_PROVIDER=kokoro, the default)
                            whisper  Whisper for sherpa-onnx (STT_PROVIDER=whisper, in process, the default)
                            llm      Qwen3 1.7B Q4_K_M GGUF, 1.1 GB (LLM_PROVIDER=embedded, the default)
                            piper    a Piper voice with its espeak-ng data (TTS_PROVIDER=piper)
                            vad      Silero VAD v6.2 (ships with the repository; copied with --dir)

options:
  --dir D                   models directory (default: ${DEFAULT_MODELS_DIR})
  --kokoro-dtype T          fp32 | fp16 | q8 | q4 | q4f16 (default ${DEFAULT_CHOICES.kokoroDtype}, as KOKORO_DTYPE)
  --whisper-model M         e.g. tiny.en, base.en, small.en (default ${DEFAULT_CHOICES.whisperModel}, as WHISPER_MODEL)
  --piper-voice V           e.g. en_US-lessac-medium (default ${DEFAULT_CHOICES.piperVoice})
  -h, --help                this text

environment: HF_ENDPOINT (a Hugging Face mirror, default https://huggingface.co), HF_TOKEN (if a repository
needs a login).`;

const HUGGING_FACE = "https://huggingface.co";

/**
 * The exact command that fetches `name` into `dir` as chosen: what the server's messages tell a person to
 * run, with only the options that differ from the defaults.
 */
export function downloadCommand(name: ModelName, choices: ModelChoices, dir: string): string {
  const options = [
    ...(resolve(dir) === DEFAULT_MODELS_DIR ? [] : [`--dir ${/\s/.test(dir) ? JSON.stringify(dir) : dir}`]),
    ...(name === "kokoro" && choices.kokoroDtype !== DEFAULT_CHOICES.kokoroDtype
      ? [`--kokoro-dtype ${choices.kokoroDtype}`]
      : []),
    ...(name === "whisper" && choices.whisperModel !== DEFAULT_CHOICES.whisperModel
      ? [`--whisper-model ${choices.whisperModel}`]
      : []),
    ...(name === "piper" && choices.piperVoice !== DEFAULT_CHOICES.piperVoice
      ? [`--piper-voice ${choices.piperVoice}`]
      : []),
  ];
  return ["npm run models -- download", name, ...options].join(" ");
}

export interface ModelsCliIo {
  out(line: string): void;
  /** Where the progress bar goes; a TTY gets one redrawn line, anything else a line per file. */
  progress: NodeJS.WritableStream & { isTTY?: boolean };
  env: NodeJS.ProcessEnv;
}

/** Runs the command; returns the process exit status. Errors the user can fix are printed, not thrown. */
export async function runModelsCli(argv: readonly string[], io: ModelsCliIo): Promise<number> {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(argv);
  } catch (error) {
    io.out(`${error instanceof Error ? error.message : String(error)}\n\n${MODELS_USAGE}`);
    return 2;
  }
  const { command, model, dir, choices, help } = parsed;
  if (help || command === undefined) {
    io.out(MODELS_USAGE);
    return help ? 0 : 2;
  }
  try {
    if (command === "list") {
      await listModels(dir, choices, io);
      return 0;
    }
    if (model === undefined) {
      io.out(`download needs a model: one of ${MODEL_NAMES.join(", ")}\n\n${MODELS_USAGE}`);
      return 2;
    }
    await downloadModel(model, dir, choices, io);
    return 0;
  } catch (error) {
    if (error instanceof DownloadError) {
      io.out(`models: ${error.message}`);
      return 1;
    }
    throw error;
  }
}

function parse(argv: readonly string[]) {
  const { values, positionals } = parseArgs({
    args: [...argv],
    allowPositionals: true,
    options: {
      dir: { type: "string" },
      "kokoro-dtype": { type: "string" },
      "whisper-model": { type: "string" },
      "piper-voice": { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  const [command, modelArg, ...extra] = positionals;
  if (command !== undefined && command !== "list" && command !== "download") {
    throw new Error(`unknown command "${command}"`);
  }
  if (extra.length > 0 || (command === "list" && modelArg !== undefined)) {
    throw new Error(`unexpected argument "${extra[0] ?? modelArg}"`);
  }
  if (modelArg !== undefined && !MODEL_NAMES.includes(modelArg as ModelName)) {
    throw new Error(`unknown model "${modelArg}": choose one of ${MODEL_NAMES.join(", ")}`);
  }
  const dtype = values["kokoro-dtype"] ?? DEFAULT_CHOICES.kokoroDtype;
  if (!isKokoroDtype(dtype)) throw new Error(`--kokoro-dtype "${dtype}" is not fp32, fp16, q8, q4 or q4f16`);
  const choices: ModelChoices = {
    kokoroDtype: dtype,
    whisperModel: values["whisper-model"] ?? DEFAULT_CHOICES.whisperModel,
    piperVoice: values["piper-voice"] ?? DEFAULT_CHOICES.piperVoice,
  };
  return {
    command,
    model: modelArg as ModelName | undefined,
    dir: resolve(values.dir ?? DEFAULT_MODELS_DIR),
    choices,
    help: values.help === true,
  };
}

async function downloadModel(name: ModelName, dir: string, choices: ModelChoices, io: ModelsCliIo) {
  if (name === "vad") {
    const target = join(dir, "silero-vad/silero_vad.onnx");
    if (resolve(target) !== SHIPPED_VAD) {
      await mkdir(dirname(target), { recursive: true });
      await copyFile(SHIPPED_VAD, target);
      await copyFile(join(dirname(SHIPPED_VAD), "LICENSE"), join(dirname(target), "LICENSE"));
    }
    io.out(`vad: Silero VAD v6.2 (MIT) ships with the repository; it is at ${target}. Nothing to download.`);
    return;
  }
  const model = describeModel(name, choices);
  const source = hubSource(model, { endpoint: io.env.HF_ENDPOINT || HUGGING_FACE, token: io.env.HF_TOKEN });
  io.out(
    `${name}: ${model.pinnedFiles ? "fetching" : "listing"} ${source.endpoint}/${model.repo} (${model.license})`,
  );
  const fetched = await fetchModel(model, dir, source, (files, totalBytes) =>
    createProgressReporter(io.progress, files.length, totalBytes),
  );
  io.out(
    `${name}: ${fetched.files} files in ${fetched.targetDir} (${fetched.downloaded} downloaded, ` +
      `${fetched.files - fetched.downloaded} already there), checksums verified. Put this in .env:\n  ${model.envLine(dir)}`,
  );
}

async function listModels(dir: string, choices: ModelChoices, io: ModelsCliIo) {
  io.out(`models directory: ${dir}`);
  for (const name of MODEL_NAMES) {
    if (name === "vad") {
      const path = join(dir, "silero-vad/silero_vad.onnx");
      const present = await exists(path);
      io.out(
        `  vad      ${present ? `installed: ${path}` : `not in this directory; the shipped copy is ${SHIPPED_VAD}`}`,
      );
      continue;
    }
    const model = describeModel(name, choices);
    const base = modelDirectory(model, dir);
    const missing = await missingModelFiles(model, dir);
    const label = name.padEnd(8);
    if (missing.length === 0) {
      io.out(`  ${label} installed: ${base}\n           ${model.envLine(dir)}`);
    } else if (missing.length < model.requiredFiles.length + model.requiredFolders.length) {
      io.out(
        `  ${label} incomplete in ${base}: missing ${missing.join(", ")}; run ${downloadCommand(name, choices, dir)}`,
      );
    } else {
      io.out(`  ${label} not installed; ${downloadCommand(name, choices, dir)}`);
    }
  }
}
