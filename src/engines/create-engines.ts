/**
 * Builds the engines the configuration asks for, once per process. The server must come up whatever is
 * missing, so an engine that cannot be built becomes an "unavailable" engine whose every use fails with the
 * reason (the call actor then apologizes and ends the call instead of leaving the caller in silence), and an
 * in-process model loads in the background, retried with back-off: a model expected at its default place in
 * MODELS_DIR is downloaded there first (once, with checksums), and a call that comes while it downloads is
 * refused at once, saying so, instead of waiting minutes.
 */

import {
  EngineError,
  type LlmChunk,
  type LlmClient,
  type SttEngine,
  type SttEvent,
  type SttSession,
  type TtsEngine,
} from "../../machines/engines.js";
import { createPhraseCache, type PreparedPhraseCache } from "../../machines/phrase-cache.js";
import type { Env } from "../config.js";
import type { LiveEngineState } from "../engine-status.js";
import { messageOf } from "../error-message.js";
import type { Log } from "../logger.js";
import type { Metrics } from "../metrics.js";
import { DownloadError } from "../models/hub-download.js";
import {
  DEFAULT_CHOICES,
  defaultLlmPath,
  describeModel,
  type ModelChoices,
  type ModelName,
  piperVoicePath,
} from "../models/model-catalog.js";
import { modelDirectory } from "../models/model-fetch.js";
import { type ModelSupply, supplyModel } from "../models/model-supply.js";
import { downloadCommand } from "../models/models-cli.js";
import { DeepgramSttEngine } from "./deepgram-stt.js";
import { EMBEDDED_LLM_DEFAULTS, type EmbeddedLlmClient, loadEmbeddedLlm } from "./embedded-llm.js";
import { loadKokoro } from "./kokoro-tts.js";
import { OpenAiLlmClient } from "./openai-llm.js";
import { createOpenAiSpeechTts } from "./openai-speech-tts.js";
import { createPiperHttpTts } from "./piper-http-tts.js";
import { loadPiperTts } from "./piper-tts.js";
import { loadWithRetry, type RetryingLoad, type RetryingLoadOptions } from "./retrying-load.js";
import { loadSherpaWhisper } from "./whisper/sherpa-transcriber.js";
import { createWhisperStt } from "./whisper-stt.js";

export interface Engines {
  stt: SttEngine;
  llm: LlmClient;
  tts: TtsEngine;
  /** The fixed phrases' audio, filled once the TTS engine is ready. */
  phrases: PreparedPhraseCache;
  /** Resolves when the TTS engine is loaded and the phrases are prepared (or failed: see the logs). */
  ready: Promise<void>;
  /** The TTS engine's load as `/health` reports it: loading, ready, or what failed and how to fix it. */
  ttsState: () => LiveEngineState;
  /** The in-process STT model's load (Whisper), as `ttsState`; absent for an STT service. */
  sttState?: () => LiveEngineState;
  /** The in-process LLM's load, as `ttsState`; absent for an LLM server, which is asked instead (`probeLlm`). */
  llmState?: () => LiveEngineState;
  /** Stops retrying failed loads (shutdown). */
  stopRetrying: () => void;
  /** Asks the LLM server whether it serves the model (`GET /models`); rejects saying what is wrong. */
  probeLlm: (signal: AbortSignal) => Promise<void>;
}

/**
 * Where engine failures that no call sees whole are counted (one Whisper transcription that failed), and
 * where an in-process model's queue is reported.
 */
export interface EngineCounters {
  engineErrors: Pick<Metrics["engineErrors"], "inc">;
  watchEngineQueue?: Metrics["watchEngineQueue"];
}

export function createEngines(
  env: Env,
  phrases: readonly string[],
  log: Log,
  counters?: EngineCounters,
): Engines {
  const stt = buildStt(env, log.child({ engine: "stt" }), counters);
  const llm = buildLlm(env, log.child({ engine: "llm" }), counters);
  const { tts, loaded, state, stop: stopTts } = buildTts(env, log.child({ engine: "tts" }));
  const phraseCache = createPhraseCache(tts);
  const ready = loaded.then(
    async () => {
      const failures = await phraseCache.prepare(phrases);
      for (const { text, error } of failures) {
        log.warn(
          { engine: "tts", phrase: text, err: error.message },
          "could not prepare a phrase; it will be synthesized live",
        );
      }
      log.info({ engine: "tts", phrases: phrases.length - failures.length }, "fixed phrases prepared");
    },
    (error: unknown) => {
      log.error(
        { engine: "tts", err: messageOf(error) },
        "the TTS engine failed to load: calls will be answered but cannot be spoken to",
      );
    },
  );
  return {
    stt: stt.engine,
    llm,
    tts,
    phrases: phraseCache,
    ready,
    ttsState: state,
    ...(stt.state ? { sttState: stt.state } : {}),
    ...(llm.state ? { llmState: llm.state } : {}),
    stopRetrying: () => {
      stopTts();
      stt.stop();
      llm.stop();
    },
    probeLlm: (signal) => llm.probe(signal),
  };
}

/**
 * The download of an engine's default model into MODELS_DIR: used only when the engine's own setting
 * (WHISPER_MODEL_DIR, LLM_MODEL_PATH, KOKORO_MODEL_DIR, PIPER_VOICE) is empty, since files a person points
 * at are theirs to put there.
 */
function defaultModel(env: Env, name: Exclude<ModelName, "vad">, log: Log): ModelSupply {
  const choices: ModelChoices = {
    ...DEFAULT_CHOICES,
    kokoroDtype: env.KOKORO_DTYPE,
    whisperModel: env.WHISPER_MODEL,
  };
  return {
    model: describeModel(name, choices),
    modelsDir: env.MODELS_DIR,
    hub: { endpoint: env.HF_ENDPOINT, ...(env.HF_TOKEN ? { token: env.HF_TOKEN } : {}) },
    command: downloadCommand(name, choices, env.MODELS_DIR),
    logger: log,
  };
}

/** Loads with retries, the problem logged once per failure with what to do (the owner's words). */
function retrying<T>(log: Log, options: Pick<RetryingLoadOptions<T>, "load" | "describeFailure">) {
  return loadWithRetry({
    load: options.load,
    describeFailure: (error, retryInMs) => {
      const problem = options.describeFailure(error, retryInMs);
      log.error(problem);
      return problem;
    },
  });
}

/** "Retrying in 4 s." */
function retryIn(ms: number): string {
  return `Retrying in ${Math.round(ms / 1000)} s.`;
}

/** A failed download already names the model and its command; any other failure gets `fix`. */
function withFix(error: unknown, fix: string): string {
  return error instanceof DownloadError ? "" : ` ${fix}`;
}

interface BuiltStt {
  engine: SttEngine;
  state?: () => LiveEngineState;
  stop: () => void;
}

function buildStt(env: Env, log: Log, counters: EngineCounters | undefined): BuiltStt {
  const onTranscriptionFailed = (error: EngineError) =>
    counters?.engineErrors.inc({ engine: "stt", kind: error.kind });
  if (env.STT_PROVIDER === "whisper" && env.WHISPER_BASE_URL) {
    const engine = createWhisperStt({
      baseUrl: env.WHISPER_BASE_URL,
      model: env.WHISPER_MODEL,
      logger: log,
      onTranscriptionFailed,
    });
    return { engine, stop: () => undefined };
  }
  if (env.STT_PROVIDER === "whisper") return inProcessWhisper(env, log, onTranscriptionFailed);
  if (!env.DEEPGRAM_API_KEY)
    return { engine: unavailableStt("DEEPGRAM_API_KEY is not set"), stop: () => undefined };
  try {
    const engine = new DeepgramSttEngine({
      apiKey: env.DEEPGRAM_API_KEY,
      baseUrl: env.DEEPGRAM_BASE_URL,
      model: env.DEEPGRAM_MODEL,
      logger: log,
    });
    return { engine, stop: () => undefined };
  } catch (error) {
    return { engine: unavailableStt(messageOf(error)), stop: () => undefined };
  }
}

/** Whisper in process: the model is loaded (and first downloaded, when it is the default) at start-up. */
function inProcessWhisper(env: Env, log: Log, onTranscriptionFailed: (error: EngineError) => void): BuiltStt {
  const defaults = defaultModel(env, "whisper", log);
  const supply = env.WHISPER_MODEL_DIR ? undefined : defaults;
  const modelDir = env.WHISPER_MODEL_DIR ?? modelDirectory(defaults.model, env.MODELS_DIR);
  const loading = retrying(log, {
    load: async (downloading) => {
      if (supply) await supplyModel(supply, downloading);
      return loadSherpaWhisper({ model: env.WHISPER_MODEL, modelDir });
    },
    describeFailure: (error, retryInMs) =>
      `Whisper could not load: ${messageOf(error)}. ${retryIn(retryInMs)}${withFix(error, "Or set WHISPER_BASE_URL to a Whisper server.")}`,
  });
  const engine = createWhisperStt({
    model: env.WHISPER_MODEL,
    loadTranscriber: () => loading.forCall(),
    logger: log,
    onTranscriptionFailed,
  });
  return { engine, state: loading.current, stop: loading.stop };
}

interface BuiltLlm extends LlmClient {
  /** Resolves when the LLM can answer; rejects saying what is wrong (the `/health` check). */
  probe(signal: AbortSignal): Promise<void>;
  /** The in-process model's load (embedded only). */
  state?: () => LiveEngineState;
  /** Stops retrying a failed model load (shutdown). */
  stop(): void;
}

function buildLlm(env: Env, log: Log, counters: EngineCounters | undefined): BuiltLlm {
  const provider = env.LLM_PROVIDER;
  if (provider === "embedded") return embeddedLlm(env, log, counters);
  const client = new OpenAiLlmClient({
    baseUrl: env.LLM_BASE_URL,
    model: env.LLM_MODEL,
    apiKey: env.LLM_API_KEY,
    provider,
    enableThinking: env.LLM_ENABLE_THINKING,
    temperature: env.LLM_TEMPERATURE,
    logger: log,
  });
  return {
    name: client.name,
    stream: (request) => client.stream(request),
    probe: (signal) => client.probe(signal),
    stop: () => undefined,
  };
}

/**
 * The embedded LLM loads in the background (a GGUF of a gigabyte takes seconds, after a download of minutes
 * on first start), retried with back-off like an in-process voice: a request waits for a load in progress
 * and fails with its error, which the call actor turns into its apology; during a download it is refused
 * at once. `/health` reports the load's state.
 */
function embeddedLlm(env: Env, log: Log, counters: EngineCounters | undefined): BuiltLlm {
  const supply = env.LLM_MODEL_PATH ? undefined : defaultModel(env, "llm", log);
  const modelPath = env.LLM_MODEL_PATH ?? defaultLlmPath(env.MODELS_DIR);
  const loading: RetryingLoad<EmbeddedLlmClient> = retrying(log, {
    load: async (downloading) => {
      if (supply) await supplyModel(supply, downloading);
      return (await loadEmbeddedLlm({ modelPath, ...EMBEDDED_LLM_DEFAULTS, logger: log })).client;
    },
    describeFailure: (error, retryInMs) =>
      `the embedded LLM could not load: ${messageOf(error)}. ${retryIn(retryInMs)}${withFix(
        error,
        supply
          ? `Fetch the model again with \`${supply.command}\`, or set LLM_MODEL_PATH to a GGUF file`
          : `Check LLM_MODEL_PATH=${modelPath}`,
      )}`,
  });
  void loading.loaded.then((client) => counters?.watchEngineQueue?.("llm", () => client.waiting));
  return {
    name: "embedded",
    async *stream(request): AsyncIterable<LlmChunk> {
      let client: EmbeddedLlmClient;
      try {
        client = await loading.forCall();
      } catch (error) {
        throw error instanceof EngineError
          ? error
          : new EngineError("llm", "connect", `the embedded LLM is not loaded: ${messageOf(error)}`, {
              cause: error,
            });
      }
      yield* client.stream(request);
    },
    probe: async () => {
      await loading.attempt();
    },
    state: loading.current,
    stop: loading.stop,
  };
}

interface BuiltTts {
  tts: TtsEngine;
  loaded: Promise<void>;
  state: () => LiveEngineState;
  stop: () => void;
}

function buildTts(env: Env, log: Log): BuiltTts {
  switch (env.TTS_PROVIDER) {
    case "kokoro": {
      const supply = env.KOKORO_MODEL_DIR ? undefined : defaultModel(env, "kokoro", log);
      return retryingTts("kokoro", log, {
        load: async (downloading) => {
          if (supply) await supplyModel(supply, downloading);
          return loadKokoro({
            voice: env.KOKORO_VOICE,
            dtype: env.KOKORO_DTYPE,
            // The root: kokoro-js finds `<root>/onnx-community/Kokoro-82M-v1.0-ONNX/` itself.
            modelDir: env.KOKORO_MODEL_DIR ?? env.MODELS_DIR,
            logger: log,
          });
        },
        describeFailure: (error, retryInMs) =>
          `Kokoro could not load: ${messageOf(error)}. ${retryIn(retryInMs)}${withFix(
            error,
            env.KOKORO_MODEL_DIR
              ? `Check that KOKORO_MODEL_DIR=${env.KOKORO_MODEL_DIR} holds the model (npm run models -- list)`
              : `Fetch it again with \`${supply?.command}\``,
          )}`,
      });
    }
    case "openai": {
      if (!env.TTS_BASE_URL) {
        return failedTts("openai-compatible speech", "TTS_BASE_URL is not set");
      }
      const tts = createOpenAiSpeechTts({
        baseUrl: env.TTS_BASE_URL,
        model: env.TTS_MODEL,
        voice: env.TTS_VOICE,
        apiKey: env.TTS_API_KEY,
        logger: log,
      });
      return { tts, loaded: Promise.resolve(), state: () => READY, stop: () => undefined };
    }
    case "piper": {
      if (env.PIPER_BASE_URL) {
        const tts = createPiperHttpTts({ baseUrl: env.PIPER_BASE_URL, logger: log });
        return { tts, loaded: Promise.resolve(), state: () => READY, stop: () => undefined };
      }
      const supply = env.PIPER_VOICE ? undefined : defaultModel(env, "piper", log);
      return retryingTts("piper", log, {
        load: async (downloading) => {
          if (supply) await supplyModel(supply, downloading);
          return loadPiperTts({
            voicePath: env.PIPER_VOICE ?? piperVoicePath(env.MODELS_DIR, DEFAULT_CHOICES.piperVoice),
            logger: log,
          });
        },
        // The loader's errors already name what to fix (PIPER_VOICE, the models command, espeak-ng-data).
        describeFailure: (error, retryInMs) =>
          `Piper could not load: ${messageOf(error)}. ${retryIn(retryInMs)}`,
      });
    }
  }
}

const READY: LiveEngineState = { state: "ready", checkedAt: new Date(0).toISOString() };

/**
 * A TTS engine whose model loads in the background and is retried with back-off until it loads: synthesis
 * waits for the attempt in progress and fails with its error, so a call during an outage gets silence and a
 * clear log line, and the first call after the fix is spoken to.
 */
function retryingTts(
  name: string,
  log: Log,
  options: Pick<RetryingLoadOptions<TtsEngine>, "load" | "describeFailure">,
): BuiltTts {
  const loading = retrying(log, options);
  const tts: TtsEngine = {
    name,
    async *synthesize(text, synthesis) {
      let engine: TtsEngine;
      try {
        engine = await loading.forCall();
      } catch (error) {
        throw error instanceof EngineError
          ? error
          : new EngineError("tts", "connect", `${name} is not loaded: ${messageOf(error)}`, { cause: error });
      }
      yield* engine.synthesize(text, synthesis);
    },
  };
  return {
    tts,
    loaded: loading.loaded.then(() => undefined),
    state: loading.current,
    stop: loading.stop,
  };
}

/** A TTS engine that cannot work with this configuration: every synthesis fails with `reason`. */
function failedTts(name: string, reason: string): BuiltTts {
  const error = new EngineError("tts", "connect", reason);
  const tts: TtsEngine = {
    name,
    // biome-ignore lint/correctness/useYield: it fails before any audio, by design
    async *synthesize() {
      throw error;
    },
  };
  const state: LiveEngineState = {
    state: "unavailable",
    problem: reason,
    checkedAt: new Date().toISOString(),
  };
  return { tts, loaded: Promise.reject(error), state: () => state, stop: () => undefined };
}

/** An STT engine that reports, as soon as a call opens it, why it cannot transcribe. */
function unavailableStt(reason: string): SttEngine {
  return {
    name: "unavailable",
    speechStartIsReliable: false,
    open({ onEvent }: { onEvent: (event: SttEvent) => void }): SttSession {
      // Reported after `open` returns, as a real engine's connection failure would be.
      queueMicrotask(() => onEvent({ type: "failed", error: new EngineError("stt", "connect", reason) }));
      return { sendAudio() {}, finalize() {}, close: async () => {} };
    },
  };
}
