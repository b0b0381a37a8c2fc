/**
 * Every setting of the public contract (`.env.example` lists them), read from the environment once at
 * start-up and validated with a message that names the variable, what is wrong and what it is for.
 */
import { resolve } from "node:path";
import { z } from "zod";
import { DEFAULT_MODELS_DIR } from "./models/model-catalog.js";

const DEFAULT_SYSTEM_PROMPT = [
  "You are the friendly receptionist of a small electrical contracting company, answering the phone.",
  "You speak with callers on a phone line, so keep every answer short: one or two sentences, plain words,",
  "no lists, no markdown, no emojis. Help callers describe their electrical problem, collect their name,",
  "address and a good time for a visit, and tell them an electrician will confirm the appointment.",
  "For anything dangerous (sparks, burning smell, exposed wires) tell them to switch off the main breaker",
  "and call emergency services if there is fire. If the caller says goodbye or has nothing more, call the",
  "end_call tool.",
].join(" ");

const DEFAULT_GREETING = "Thanks for calling! How can I help you today?";

/** What each variable is for, printed beside any validation error so the message stands on its own. */
export const VARIABLE_PURPOSE: Record<string, string> = {
  PORT: "the TCP port the server listens on",
  HOST: "the address the server listens on",
  PUBLIC_URL: "the https base URL Twilio reaches this server at (the stream URL is its wss:// form)",
  LOG_LEVEL: "how much the server logs (fatal, error, warn, info, debug, trace, silent)",
  LOG_TRANSCRIPTS: "whether caller and agent words appear in info logs (false redacts them)",
  LOG_PHONE_NUMBERS:
    "whether webhook log lines show callers' numbers whole (false: only the last two digits)",
  TWILIO_ACCOUNT_SID: "the Twilio account, needed for REST calls (hang up, transfer)",
  TWILIO_AUTH_TOKEN: "verifies Twilio's webhook signatures and authenticates REST calls",
  TWILIO_PHONE_NUMBER: "the Twilio number callers dial (informational)",
  TWILIO_API_BASE_URL: "where Twilio REST calls go (a mock server in tests)",
  TWILIO_VALIDATE_STREAM_SIGNATURE: "whether the WebSocket upgrade's X-Twilio-Signature is checked too",
  WEBHOOK_RATE_LIMIT_PER_MINUTE:
    "how many webhook requests one source address may make per minute (429 past it)",
  STREAM_START_TIMEOUT_SECONDS:
    "how long a media stream may stay open without sending start before it is closed",
  MAX_PENDING_STREAMS: "how many media streams may be open without having sent start yet (503 past it)",
  MAX_STREAMS_PER_SOURCE: "how many media streams one source address may hold open (429 past it)",
  STREAM_TOKEN_TTL_SECONDS: "how long the per-call stream token handed out in TwiML stays valid",
  TRANSFER_NUMBER: "the number the transfer_call tool dials (empty disables the tool)",
  STT_PROVIDER:
    "which speech-to-text engine runs (empty: deepgram when DEEPGRAM_API_KEY is set, else Whisper in process)",
  DEEPGRAM_API_KEY: "authenticates to Deepgram's live transcription API",
  DEEPGRAM_BASE_URL: "points the Deepgram SDK at a self-hosted Deepgram or a test server",
  DEEPGRAM_MODEL: "the Deepgram model",
  LLM_BASE_URL: "the OpenAI-compatible chat endpoint (vLLM, Ollama, llama.cpp server)",
  LLM_MODEL: "the model name sent to the chat endpoint",
  LLM_API_KEY: "the bearer token sent to the chat endpoint",
  LLM_ENABLE_THINKING: "whether Qwen3-style models may think before answering (adds latency)",
  LLM_PROVIDER:
    "which LLM answers: a chat endpoint (vllm, ollama or openai: how thinking is switched off) or embedded (llama.cpp in process; the default without LLM_BASE_URL)",
  LLM_MODEL_PATH:
    "the GGUF file the embedded LLM loads (empty: the default model in MODELS_DIR, downloaded on first start)",
  LLM_TEMPERATURE: "the sampling temperature sent with every request",
  TTS_PROVIDER:
    "which text-to-speech engine runs (empty: openai when TTS_BASE_URL is set, piper when PIPER_VOICE or PIPER_BASE_URL is, else Kokoro in process)",
  KOKORO_VOICE: "the Kokoro voice",
  KOKORO_DTYPE: "the Kokoro ONNX weights' precision",
  KOKORO_MODEL_DIR:
    "a local directory holding the Kokoro model (empty: MODELS_DIR, downloaded there on first start)",
  TTS_BASE_URL: "the OpenAI-compatible speech endpoint (Kokoro-FastAPI, speaches, OpenAI)",
  TTS_MODEL: "the model name sent to the speech endpoint",
  TTS_VOICE: "the voice sent to the speech endpoint",
  TTS_API_KEY: "the bearer token sent to the speech endpoint",
  PIPER_VOICE:
    "the Piper voice's .onnx (tokens.txt and espeak-ng-data/ beside it; empty: en_US-lessac-medium in MODELS_DIR, downloaded there on first start)",
  PIPER_BASE_URL: "a Piper HTTP server (python3 -m piper.http_server) instead of the voice in process",
  WHISPER_BASE_URL:
    "an OpenAI-compatible transcription server ending in /v1 (speaches, whisper.cpp server); empty: Whisper in process",
  WHISPER_MODEL: "the Whisper model (tiny.en, base.en, ...)",
  WHISPER_MODEL_DIR:
    "a local directory holding the in-process Whisper model (empty: in MODELS_DIR, downloaded there on first start)",
  MODELS_DIR:
    "where the in-process engines' default models live and are downloaded to on first start (npm run models -- list)",
  HF_ENDPOINT: "the Hugging Face Hub (or a mirror) the default models are downloaded from",
  HF_TOKEN: "the Hugging Face token sent with model downloads (only for repositories that need a login)",
  SYSTEM_PROMPT: "the agent's persona and instructions",
  GREETING: "the agent's first words",
  CALL_TAPES_DIR: "a directory where every call is recorded as a replayable tape",
  CALL_TAPES_AUDIO: "whether tapes also keep the raw audio of both sides (about 20 KB per second of call)",
  INSPECT: "where live calls are shown in the Stately inspector",
  INSPECT_PORT: "the port of the local Stately inspector relay",
  CALLS_API_KEY: "the bearer token GET /calls requires (empty: the list is open)",
};

const emptyToUndefined = (value: unknown) =>
  typeof value === "string" && value.trim() === "" ? undefined : value;

const optionalString = z.preprocess(emptyToUndefined, z.string().optional());
const port = (fallback: number) =>
  z.preprocess(
    emptyToUndefined,
    z.coerce
      .number()
      .int("must be a whole number")
      .min(1, "must be between 1 and 65535")
      .max(65535, "must be between 1 and 65535")
      .default(fallback),
  );
const httpUrl = z.url({ protocol: /^https?$/, error: "must be an http:// or https:// URL" });
const wsOrHttpUrl = z.url({ protocol: /^(https?|wss?)$/, error: "must be an http(s):// or ws(s):// URL" });
const boolean = (fallback: boolean) =>
  z.preprocess(
    (value) => {
      const v = emptyToUndefined(value);
      if (v === undefined) return fallback;
      if (typeof v !== "string") return v;
      const lowered = v.toLowerCase();
      if (["true", "1", "yes", "on"].includes(lowered)) return true;
      if (["false", "0", "no", "off"].includes(lowered)) return false;
      return v;
    },
    z.boolean({ error: "must be true or false" }),
  );

const schema = z.object({
  PORT: port(8080),
  HOST: z.preprocess(emptyToUndefined, z.string().default("0.0.0.0")),
  // Left unset, it follows PORT (filled in by loadConfig): a server moved to PORT=3000 must not sign and
  // advertise URLs on 8080.
  PUBLIC_URL: z.preprocess(emptyToUndefined, httpUrl.optional()),
  LOG_LEVEL: z.preprocess(
    emptyToUndefined,
    z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
  ),
  LOG_TRANSCRIPTS: boolean(true),
  LOG_PHONE_NUMBERS: boolean(false),
  TWILIO_ACCOUNT_SID: z.preprocess(
    emptyToUndefined,
    z
      .string()
      .regex(/^AC[0-9a-fA-F]{32}$/, "must be 'AC' followed by 32 hexadecimal characters")
      .optional(),
  ),
  TWILIO_AUTH_TOKEN: optionalString,
  TWILIO_PHONE_NUMBER: optionalString,
  TWILIO_API_BASE_URL: z.preprocess(emptyToUndefined, httpUrl.default("https://api.twilio.com")),
  TWILIO_VALIDATE_STREAM_SIGNATURE: boolean(true),
  // Twilio posts one voice webhook per call and a few status callbacks, from a pool of addresses: 300 a
  // minute from one address is a busy line's worth many times over, and a flood's first few seconds.
  WEBHOOK_RATE_LIMIT_PER_MINUTE: z.preprocess(
    emptyToUndefined,
    z.coerce.number().int("must be a whole number").min(1, "must be at least 1").default(300),
  ),
  // Twilio sends `connected` and `start` within a second of the upgrade.
  STREAM_START_TIMEOUT_SECONDS: z.preprocess(
    emptyToUndefined,
    z.coerce.number().min(1, "must be at least 1 second").max(60).default(5),
  ),
  MAX_PENDING_STREAMS: z.preprocess(
    emptyToUndefined,
    z.coerce.number().int("must be a whole number").min(1, "must be at least 1").default(50),
  ),
  // Twilio's media servers carry many calls each, and a proxy on another machine is one source for all.
  MAX_STREAMS_PER_SOURCE: z.preprocess(
    emptyToUndefined,
    z.coerce.number().int("must be a whole number").min(1, "must be at least 1").default(200),
  ),
  STREAM_TOKEN_TTL_SECONDS: z.preprocess(
    emptyToUndefined,
    z.coerce.number().int().min(5, "must be at least 5 seconds").max(3600).default(60),
  ),
  TRANSFER_NUMBER: z.preprocess(
    emptyToUndefined,
    z
      .string()
      .regex(/^\+?[0-9]{3,15}$|^sip:.+/, "must be a phone number in E.164 form (+15551234567) or a sip: URI")
      .optional(),
  ),
  // The three *_PROVIDER are resolved by engineProfile when unset.
  STT_PROVIDER: z.preprocess(emptyToUndefined, z.enum(["deepgram", "whisper"]).optional()),
  DEEPGRAM_API_KEY: optionalString,
  DEEPGRAM_BASE_URL: z.preprocess(emptyToUndefined, wsOrHttpUrl.optional()),
  DEEPGRAM_MODEL: z.preprocess(emptyToUndefined, z.string().default("nova-3")),
  LLM_BASE_URL: z.preprocess(emptyToUndefined, httpUrl.optional()),
  LLM_MODEL: z.preprocess(emptyToUndefined, z.string().default("Qwen/Qwen3-8B")),
  LLM_API_KEY: z.preprocess(emptyToUndefined, z.string().default("EMPTY")),
  LLM_ENABLE_THINKING: boolean(false),
  LLM_PROVIDER: z.preprocess(emptyToUndefined, z.enum(["vllm", "ollama", "openai", "embedded"]).optional()),
  LLM_MODEL_PATH: optionalString,
  // Always sent: servers disagree on the default (Ollama's /v1 uses 1.0, which rambles on a phone line).
  // 0.7 is Qwen3's recommendation for non-thinking use and within Llama 3.1's usual range.
  LLM_TEMPERATURE: z.preprocess(emptyToUndefined, z.coerce.number().min(0).max(2).default(0.7)),
  TTS_PROVIDER: z.preprocess(emptyToUndefined, z.enum(["kokoro", "openai", "piper"]).optional()),
  KOKORO_VOICE: z.preprocess(emptyToUndefined, z.string().default("af_heart")),
  KOKORO_DTYPE: z.preprocess(emptyToUndefined, z.enum(["fp32", "fp16", "q8", "q4", "q4f16"]).default("q8")),
  KOKORO_MODEL_DIR: optionalString,
  TTS_BASE_URL: z.preprocess(emptyToUndefined, httpUrl.optional()),
  TTS_MODEL: z.preprocess(emptyToUndefined, z.string().default("kokoro")),
  TTS_VOICE: z.preprocess(emptyToUndefined, z.string().default("af_heart")),
  TTS_API_KEY: optionalString,
  PIPER_VOICE: optionalString,
  PIPER_BASE_URL: z.preprocess(emptyToUndefined, httpUrl.optional()),
  WHISPER_BASE_URL: z.preprocess(emptyToUndefined, httpUrl.optional()),
  WHISPER_MODEL: z.preprocess(emptyToUndefined, z.string().default("tiny.en")),
  WHISPER_MODEL_DIR: optionalString,
  MODELS_DIR: z.preprocess(
    emptyToUndefined,
    z
      .string()
      .default(DEFAULT_MODELS_DIR)
      .transform((dir) => resolve(dir)),
  ),
  HF_ENDPOINT: z.preprocess(emptyToUndefined, httpUrl.default("https://huggingface.co")),
  HF_TOKEN: optionalString,
  SYSTEM_PROMPT: z.preprocess(emptyToUndefined, z.string().default(DEFAULT_SYSTEM_PROMPT)),
  GREETING: z.preprocess(emptyToUndefined, z.string().default(DEFAULT_GREETING)),
  CALL_TAPES_DIR: optionalString,
  CALL_TAPES_AUDIO: boolean(false),
  INSPECT: z.preprocess(emptyToUndefined, z.enum(["off", "local", "sky"]).default("off")),
  INSPECT_PORT: port(4242),
  CALLS_API_KEY: optionalString,
});

type ParsedEnv = z.infer<typeof schema>;

export type Env = Omit<ParsedEnv, "PUBLIC_URL" | keyof EngineProfile> & {
  PUBLIC_URL: string;
} & EngineProfile;

/** The engines that run, each chosen by `engineProfile`, and where the chosen LLM server is. */
export interface EngineProfile {
  STT_PROVIDER: "deepgram" | "whisper";
  LLM_PROVIDER: "vllm" | "ollama" | "openai" | "embedded";
  TTS_PROVIDER: "kokoro" | "openai" | "piper";
  LLM_BASE_URL: string;
}

/** Where a chat-endpoint LLM is looked for when LLM_PROVIDER names one but LLM_BASE_URL is empty: vLLM's. */
const DEFAULT_LLM_BASE_URL = "http://localhost:8000/v1";

/**
 * The one rule that picks the engines, so a first start with nothing configured is a whole agent in this
 * process: an engine named in its *_PROVIDER runs as named; else an engine whose server or account is
 * configured replaces its embedded counterpart (DEEPGRAM_API_KEY: Deepgram; LLM_BASE_URL: that server,
 * Ollama when it is on Ollama's port 11434, vLLM otherwise; TTS_BASE_URL: the OpenAI-compatible speech
 * endpoint; PIPER_VOICE or PIPER_BASE_URL: Piper); else the embedded profile: Whisper behind Silero VAD,
 * llama.cpp, Kokoro, all in process, their models fetched into MODELS_DIR on first start.
 */
export function engineProfile(
  parsed: Pick<
    ParsedEnv,
    keyof EngineProfile | "DEEPGRAM_API_KEY" | "TTS_BASE_URL" | "PIPER_VOICE" | "PIPER_BASE_URL"
  >,
): EngineProfile {
  const llmServer = parsed.LLM_BASE_URL;
  const llm =
    parsed.LLM_PROVIDER ??
    (llmServer === undefined ? "embedded" : new URL(llmServer).port === "11434" ? "ollama" : "vllm");
  return {
    STT_PROVIDER: parsed.STT_PROVIDER ?? (parsed.DEEPGRAM_API_KEY ? "deepgram" : "whisper"),
    LLM_PROVIDER: llm,
    TTS_PROVIDER:
      parsed.TTS_PROVIDER ??
      (parsed.TTS_BASE_URL ? "openai" : parsed.PIPER_VOICE || parsed.PIPER_BASE_URL ? "piper" : "kokoro"),
    LLM_BASE_URL: llmServer ?? DEFAULT_LLM_BASE_URL,
  };
}

export interface Config {
  env: Env;
  /** Every secret value present, so the logger can scrub it from any line whatever the path it hides in. */
  secrets: string[];
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
    this.name = "ConfigError";
  }
}

const SECRET_VARIABLES = [
  "TWILIO_AUTH_TOKEN",
  "DEEPGRAM_API_KEY",
  "LLM_API_KEY",
  "TTS_API_KEY",
  "CALLS_API_KEY",
  "HF_TOKEN",
] as const;

/** Reads and validates the configuration; throws a `ConfigError` listing every problem at once. */
export function loadConfig(source: NodeJS.ProcessEnv): Config {
  // VLLM_BASE_URL is the contract's alias of LLM_BASE_URL; the canonical name wins when both are set.
  const input: Record<string, string | undefined> = {
    ...source,
    LLM_BASE_URL: source.LLM_BASE_URL || source.VLLM_BASE_URL,
  };
  const parsed = schema.safeParse(input);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => {
      const name = String(issue.path[0] ?? "?");
      const purpose = VARIABLE_PURPOSE[name];
      // Never echo a secret's value back, even in an error.
      const shown = (SECRET_VARIABLES as readonly string[]).includes(name) ? "" : ` (got "${input[name]}")`;
      return `${name} ${issue.message}${shown}${purpose ? `: it sets ${purpose}` : ""}`;
    });
    throw new ConfigError(problems);
  }
  const env: Env = {
    ...parsed.data,
    ...engineProfile(parsed.data),
    PUBLIC_URL: parsed.data.PUBLIC_URL ?? `http://localhost:${parsed.data.PORT}`,
  };
  const secrets = SECRET_VARIABLES.map((name) => env[name]).filter(
    // "EMPTY" is vLLM's conventional placeholder, not a secret; scrubbing it would mangle ordinary words.
    (value): value is string => typeof value === "string" && value.length >= 6 && value !== "EMPTY",
  );
  return { env, secrets };
}

/**
 * The media stream URL handed to Twilio: always `wss://<PUBLIC_URL host>/twilio/stream`, as the contract
 * fixes, because Twilio only opens secure WebSockets. A local client talking to a plain-http server (the
 * simulated caller) swaps the scheme itself; the upgrade signature is still computed over this URL.
 */
export function streamUrl(env: Pick<Env, "PUBLIC_URL">): string {
  return `wss://${new URL(env.PUBLIC_URL).host}/twilio/stream`;
}

/**
 * Where a browser on this machine reaches the server: `HOST` itself, or localhost when the server listens
 * on every interface.
 */
export function browserUrl(env: Pick<Env, "HOST" | "PORT">): string {
  const anyAddress = env.HOST === "0.0.0.0" || env.HOST === "::" || env.HOST === "";
  const host = anyAddress ? "localhost" : env.HOST.includes(":") ? `[${env.HOST}]` : env.HOST;
  return `http://${host}:${env.PORT}/`;
}
