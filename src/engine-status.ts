/**
 * What each engine is set to and what it still lacks, printed at start-up and served by /health, so a
 * newcomer with an empty .env sees exactly which variables to fill in instead of a crash.
 */
import type { Env } from "./config.js";
import { missingWhisperFiles, sherpaWhisperFiles } from "./engines/whisper/sherpa-transcriber.js";
import { DEFAULT_CHOICES, defaultLlmPath, piperVoicePath } from "./models/model-catalog.js";

export interface EngineStatus {
  engine: "telephony" | "stt" | "llm" | "tts";
  provider: string;
  ready: boolean;
  /** Where it points, without secrets. */
  detail: string;
  /** Each missing piece as "VARIABLE: why it is needed". */
  missing: string[];
  /** When the engine itself was last asked (only engines that are probed live). */
  checkedAt?: string;
}

/**
 * What an engine that is asked or loaded at run time last showed: the LLM server's answer to `GET /models`,
 * the TTS model's load. `problem` says what is wrong and what to do.
 */
export type LiveEngineState =
  | {
      state: "checking" /** What the load is doing, when it says (downloading a model). */;
      activity?: string;
    }
  | { state: "ready"; checkedAt: string }
  | { state: "unavailable"; problem: string; checkedAt: string };

/**
 * Ollama answers a model's requests OLLAMA_NUM_PARALLEL at a time (its default: 4, or 1 with little memory);
 * a call beyond that waits for another's reply to finish, seconds of silence on the line. The variable is
 * the Ollama server's, which this server cannot ask, so the warning names it (and its value when this
 * process shares the server's environment).
 */
export function ollamaQueueWarning(
  env: Env,
  processEnv: NodeJS.ProcessEnv = process.env,
): string | undefined {
  if (env.LLM_PROVIDER !== "ollama") return undefined;
  const parallel = processEnv.OLLAMA_NUM_PARALLEL;
  const limit = parallel
    ? `OLLAMA_NUM_PARALLEL=${parallel}: more than ${parallel} simultaneous calls`
    : "OLLAMA_NUM_PARALLEL (default 4, or 1 on a small machine): more simultaneous calls than that";
  return `llm: Ollama answers ${limit} wait for each other's replies. Set OLLAMA_NUM_PARALLEL on the Ollama server to the number of calls you expect at once (each takes its share of context memory)`;
}

/** The configured engines, corrected by what the live ones last showed: configured is not working. */
export function withLiveStates(
  statuses: readonly EngineStatus[],
  live: Partial<Record<EngineStatus["engine"], LiveEngineState>>,
): EngineStatus[] {
  return statuses.map((status) => {
    const state = live[status.engine];
    return state ? corrected(status, state) : status;
  });
}

function corrected(status: EngineStatus, live: LiveEngineState): EngineStatus {
  switch (live.state) {
    case "checking":
      return {
        ...status,
        ready: false,
        missing: [...status.missing, live.activity ?? "not checked yet: starting"],
      };
    case "ready":
      return { ...status, checkedAt: live.checkedAt };
    case "unavailable":
      return {
        ...status,
        ready: false,
        checkedAt: live.checkedAt,
        missing: [...status.missing, live.problem],
      };
  }
}

export function describeEngines(env: Env): EngineStatus[] {
  return [telephony(env), stt(env), llm(env), tts(env)];
}

function status(
  engine: EngineStatus["engine"],
  provider: string,
  detail: string,
  missing: string[],
): EngineStatus {
  return { engine, provider, ready: missing.length === 0, detail, missing };
}

function telephony(env: Env): EngineStatus {
  const missing: string[] = [];
  if (!env.TWILIO_AUTH_TOKEN) {
    missing.push(
      "TWILIO_AUTH_TOKEN: without it webhooks and streams are accepted unsigned (fine only for local tests)",
    );
  }
  if (!env.TWILIO_ACCOUNT_SID)
    missing.push("TWILIO_ACCOUNT_SID: needed to hang up or transfer calls over REST");
  const detail = `webhook ${env.PUBLIC_URL.replace(/\/+$/, "")}/twilio/voice, REST ${env.TWILIO_API_BASE_URL}`;
  return status("telephony", "twilio", detail, missing);
}

function stt(env: Env): EngineStatus {
  if (env.STT_PROVIDER === "whisper") {
    // The default place is the server's to fill (downloaded on first start): its load state says how far.
    const where = env.WHISPER_BASE_URL
      ? `the transcription server at ${env.WHISPER_BASE_URL}`
      : `in process, from ${env.WHISPER_MODEL_DIR ?? `${defaultWhisperDir(env)} ${FETCHED_ON_FIRST_START}`}`;
    const missingFiles =
      env.WHISPER_BASE_URL || !env.WHISPER_MODEL_DIR
        ? []
        : missingWhisperFiles({ model: env.WHISPER_MODEL, modelDir: env.WHISPER_MODEL_DIR });
    const missing =
      missingFiles.length === 0
        ? []
        : [
            `WHISPER_MODEL_DIR: the ${env.WHISPER_MODEL} model is not there (${missingFiles.join(", ")}); fetch it with \`npm run models -- download whisper\` and set the WHISPER_MODEL_DIR it prints, or set WHISPER_BASE_URL to a Whisper server`,
          ];
    return status("stt", "whisper", `model ${env.WHISPER_MODEL}, ${where}, with Silero VAD`, missing);
  }
  const missing = env.DEEPGRAM_API_KEY
    ? []
    : ["DEEPGRAM_API_KEY: Deepgram refuses live transcription without it"];
  return status(
    "stt",
    "deepgram",
    `model ${env.DEEPGRAM_MODEL} at ${env.DEEPGRAM_BASE_URL ?? "api.deepgram.com"}`,
    missing,
  );
}

/** Said of a default model's place in MODELS_DIR. */
const FETCHED_ON_FIRST_START = "(downloaded there on first start)";

function defaultWhisperDir(env: Env): string {
  return sherpaWhisperFiles({ model: env.WHISPER_MODEL, modelsDir: env.MODELS_DIR }).dir;
}

function llm(env: Env): EngineStatus {
  const provider = env.LLM_PROVIDER;
  if (provider === "embedded") {
    const file = env.LLM_MODEL_PATH ?? `${defaultLlmPath(env.MODELS_DIR)} ${FETCHED_ON_FIRST_START}`;
    return status("llm", provider, `${file}, llama.cpp in process`, []);
  }
  return status("llm", provider, `model ${env.LLM_MODEL} at ${env.LLM_BASE_URL}`, []);
}

function tts(env: Env): EngineStatus {
  switch (env.TTS_PROVIDER) {
    case "kokoro":
      return status(
        "tts",
        "kokoro",
        `voice ${env.KOKORO_VOICE}, ${env.KOKORO_DTYPE}, from ${env.KOKORO_MODEL_DIR ?? `${env.MODELS_DIR} ${FETCHED_ON_FIRST_START}`}`,
        [],
      );
    case "openai":
      return status(
        "tts",
        "openai-compatible speech",
        `model ${env.TTS_MODEL}, voice ${env.TTS_VOICE} at ${env.TTS_BASE_URL ?? "?"}`,
        env.TTS_BASE_URL
          ? []
          : ["TTS_BASE_URL: the speech endpoint, e.g. http://localhost:8880/v1 for Kokoro-FastAPI"],
      );
    case "piper":
      return status(
        "tts",
        "piper",
        env.PIPER_BASE_URL
          ? `Piper HTTP server at ${env.PIPER_BASE_URL}`
          : `voice ${env.PIPER_VOICE ?? `${piperVoicePath(env.MODELS_DIR, DEFAULT_CHOICES.piperVoice)} ${FETCHED_ON_FIRST_START}`}, in process`,
        [],
      );
  }
}
