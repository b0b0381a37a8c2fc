/**
 * Builds the engines the configuration asks for, once per process. The server must come up whatever is
 * missing, so an engine that cannot be built becomes an "unavailable" engine whose every use fails with the
 * reason (the call actor then apologizes and ends the call instead of leaving the caller in silence), and a
 * model that loads slowly (Kokoro downloads 92 MB on first start) is awaited by calls, not by start-up.
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
import { type Env, llmProvider } from "../config.js";
import type { LiveEngineState } from "../engine-status.js";
import { messageOf } from "../error-message.js";
import type { Log } from "../logger.js";
import type { Metrics } from "../metrics.js";
import { DeepgramSttEngine } from "./deepgram-stt.js";
import { EMBEDDED_LLM_DEFAULTS, type EmbeddedLlmClient, loadEmbeddedLlm } from "./embedded-llm.js";
import { loadKokoro } from "./kokoro-tts.js";
import { OpenAiLlmClient } from "./openai-llm.js";
import { createOpenAiSpeechTts } from "./openai-speech-tts.js";
import { createPiperHttpTts } from "./piper-http-tts.js";
import { loadPiperTts } from "./piper-tts.js";
import { loadWithRetry, type RetryingLoadOptions } from "./retrying-load.js";
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
  /** Stops retrying a failed TTS load (shutdown). */
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
    stt,
    llm,
    tts,
    phrases: phraseCache,
    ready,
    ttsState: state,
    stopRetrying: () => {
      stopTts();
      llm.stop();
    },
    probeLlm: (signal) => llm.probe(signal),
  };
}

function buildStt(env: Env, log: Log, counters: EngineCounters | undefined): SttEngine {
  if (env.STT_PROVIDER === "whisper") {
    return createWhisperStt({
      baseUrl: env.WHISPER_BASE_URL,
      model: env.WHISPER_MODEL,
      modelDir: env.WHISPER_MODEL_DIR,
      logger: log,
      onTranscriptionFailed: (error) => counters?.engineErrors.inc({ engine: "stt", kind: error.kind }),
    });
  }
  if (!env.DEEPGRAM_API_KEY) return unavailableStt("DEEPGRAM_API_KEY is not set");
  try {
    return new DeepgramSttEngine({
      apiKey: env.DEEPGRAM_API_KEY,
      baseUrl: env.DEEPGRAM_BASE_URL,
      model: env.DEEPGRAM_MODEL,
      logger: log,
    });
  } catch (error) {
    return unavailableStt(messageOf(error));
  }
}

interface BuiltLlm extends LlmClient {
  /** Resolves when the LLM can answer; rejects saying what is wrong (the `/health` check). */
  probe(signal: AbortSignal): Promise<void>;
  /** Stops retrying a failed model load (shutdown). */
  stop(): void;
}

function buildLlm(env: Env, log: Log, counters: EngineCounters | undefined): BuiltLlm {
  const provider = llmProvider(env);
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
 * The embedded LLM loads in the background (a GGUF of a gigabyte takes seconds), retried with back-off like
 * an in-process voice: a request waits for the load in progress and fails with its error, which the call
 * actor turns into its apology, and `/health` reports the load's outcome through `probe`.
 */
function embeddedLlm(env: Env, log: Log, counters: EngineCounters | undefined): BuiltLlm {
  const modelPath = env.LLM_MODEL_PATH;
  if (!modelPath) {
    const error = new EngineError(
      "llm",
      "connect",
      "LLM_MODEL_PATH is not set: point it at a GGUF file (LLM_PROVIDER=embedded)",
    );
    return {
      name: "embedded",
      // biome-ignore lint/correctness/useYield: it fails before any text, by design
      async *stream() {
        throw error;
      },
      probe: async () => Promise.reject(error),
      stop: () => undefined,
    };
  }
  const loading = loadWithRetry<EmbeddedLlmClient>({
    load: async () => (await loadEmbeddedLlm({ modelPath, ...EMBEDDED_LLM_DEFAULTS, logger: log })).client,
    describeFailure: (error, retryInMs) => {
      const problem = `the embedded LLM could not load: ${messageOf(error)}. Retrying in ${Math.round(retryInMs / 1000)} s. Check LLM_MODEL_PATH=${modelPath}`;
      log.error(problem);
      return problem;
    },
  });
  void loading.loaded.then((client) => counters?.watchEngineQueue?.("llm", () => client.waiting));
  return {
    name: "embedded",
    async *stream(request): AsyncIterable<LlmChunk> {
      const client = await loading.attempt();
      yield* client.stream(request);
    },
    probe: async () => {
      await loading.attempt();
    },
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
    case "kokoro":
      return retryingTts("kokoro", log, {
        load: () =>
          loadKokoro({
            voice: env.KOKORO_VOICE,
            dtype: env.KOKORO_DTYPE,
            modelDir: env.KOKORO_MODEL_DIR,
            logger: log,
          }),
        describeFailure: (error, retryInMs) =>
          `Kokoro could not load: ${messageOf(error)}. Retrying in ${Math.round(retryInMs / 1000)} s. ` +
          (env.KOKORO_MODEL_DIR
            ? `Check that KOKORO_MODEL_DIR=${env.KOKORO_MODEL_DIR} holds the model (npm run models -- list)`
            : "Offline? Fetch it once with `npm run models -- download kokoro` and set the KOKORO_MODEL_DIR it prints"),
      });
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
      return retryingTts("piper", log, {
        load: () => loadPiperTts({ voicePath: env.PIPER_VOICE, logger: log }),
        // The loader's errors already name what to fix (PIPER_VOICE, the models command, espeak-ng-data).
        describeFailure: (error, retryInMs) =>
          `Piper could not load: ${messageOf(error)}. Retrying in ${Math.round(retryInMs / 1000)} s.`,
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
  const loading = loadWithRetry({
    load: options.load,
    describeFailure: (error, retryInMs) => {
      const problem = options.describeFailure(error, retryInMs);
      log.error(problem);
      return problem;
    },
  });
  const tts: TtsEngine = {
    name,
    async *synthesize(text, synthesis) {
      let engine: TtsEngine;
      try {
        engine = await loading.attempt();
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
