/**
 * Finds the files of a Piper voice before sherpa-onnx sees them. This check is not a nicety: sherpa-onnx's
 * Piper front end calls `exit(-1)` (the whole server, every call) when tokens.txt cannot be parsed or
 * espeak-ng cannot initialise from its data directory, so a missing file must be caught here, as an error
 * that says how to get it.
 *
 * Layout, as sherpa-onnx's Piper voice releases ship it (`npm run models -- download piper`):
 *   vits-piper-en_US-lessac-medium/en_US-lessac-medium.onnx   <- PIPER_VOICE
 *   vits-piper-en_US-lessac-medium/tokens.txt
 *   vits-piper-en_US-lessac-medium/espeak-ng-data/            (or the system's, from Debian's espeak-ng-data)
 */
import { stat } from "node:fs/promises";
import { arch } from "node:os";
import { dirname, join } from "node:path";
import { EngineError } from "../../../machines/engines.js";
import { DEFAULT_CHOICES, DEFAULT_MODELS_DIR, piperVoicePath } from "../../models/model-catalog.js";

export const PIPER_DEFAULT_VOICE_PATH = piperVoicePath(DEFAULT_MODELS_DIR, DEFAULT_CHOICES.piperVoice);

/** Where Debian and Ubuntu's `espeak-ng-data` package puts the data (multiarch first, then the old path). */
export function systemEspeakDataDirs(): string[] {
  const triplet = arch() === "arm64" ? "aarch64-linux-gnu" : "x86_64-linux-gnu";
  return [`/usr/lib/${triplet}/espeak-ng-data`, "/usr/share/espeak-ng-data"];
}

/** Files espeak-ng reads at initialisation: without them it fails, and sherpa-onnx exits the process. */
const ESPEAK_CORE_FILES = ["phontab", "phonindex", "phondata", "intonations"] as const;

export interface PiperVoiceFiles {
  model: string;
  tokens: string;
  espeakDataDir: string;
}

const DOWNLOAD_HINT =
  "run `npm run models -- download piper` and set PIPER_VOICE to the .onnx it prints " +
  "(the voice as sherpa-onnx repackages it: the .onnx with tokens.txt and espeak-ng-data/ beside it)";

export async function locatePiperVoice(options: {
  /** PIPER_VOICE; unset: the default voice where the models command downloads it. */
  voicePath?: string;
  /** Used when the voice has no espeak-ng-data/ of its own (default: the Debian package's directories). */
  systemEspeakDataDirs?: readonly string[];
}): Promise<PiperVoiceFiles> {
  const model = options.voicePath ?? PIPER_DEFAULT_VOICE_PATH;
  const setting = options.voicePath === undefined ? "the default PIPER_VOICE" : "PIPER_VOICE";
  if (!(await isFile(model))) {
    throw new EngineError(
      "tts",
      "connect",
      `Piper voice not found: ${setting} ${model} is not a file; ${DOWNLOAD_HINT}`,
    );
  }
  const voiceDir = dirname(model);
  const tokens = join(voiceDir, "tokens.txt");
  if (!(await isFile(tokens))) {
    throw new EngineError(
      "tts",
      "connect",
      `Piper voice ${model} has no tokens.txt beside it (a voice from rhasspy/piper-voices, .onnx + .onnx.json, ` +
        `does not carry one); ${DOWNLOAD_HINT}`,
    );
  }
  const candidates = [
    join(voiceDir, "espeak-ng-data"),
    ...(options.systemEspeakDataDirs ?? systemEspeakDataDirs()),
  ];
  for (const dir of candidates) {
    if (await isEspeakDataDir(dir)) return { model, tokens, espeakDataDir: dir };
  }
  throw new EngineError(
    "tts",
    "connect",
    `Piper voice ${model} has no espeak-ng data: none of ${candidates.join(", ")} holds ${ESPEAK_CORE_FILES.join(", ")}; ` +
      `${DOWNLOAD_HINT}, or install Debian's espeak-ng-data package (apt-get install espeak-ng-data)`,
  );
}

async function isEspeakDataDir(dir: string): Promise<boolean> {
  for (const file of ESPEAK_CORE_FILES) {
    if (!(await isFile(join(dir, file)))) return false;
  }
  return true;
}

async function isFile(path: string): Promise<boolean> {
  return (await stat(path).catch(() => undefined))?.isFile() ?? false;
}
