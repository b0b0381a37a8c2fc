/**
 * Builds the engines the configuration asks for, once per process. The server must come up whatever is
 * missing, so an engine that cannot be built becomes an "unavailable" engine whose every use fails with the
 * reason (the call actor then apologizes and ends the call instead of leaving the caller in silence), and a
 * model that loads slowly (Kokoro downloads 92 MB on first start) is awaited by calls, not by start-up.
 */

import {
  EngineError,
  type LlmClient,
  type SttEngine,
  type SttEvent,
  type SttSession,
  type TtsEngine,
} from "../../machines/engines.js";
import { createPhraseCache, type PreparedPhraseCache } from "../../machines/phrase-cache.js";
import { type Env, llmProvider } from "../config.js";
import type { Log } from "../logger.js";
import { DeepgramSttEngine } from "./deepgram-stt.js";
import { loadKokoro } from "./kokoro-tts.js";
import { OpenAiLlmClient } from "./openai-llm.js";
import { createOpenAiSpeechTts } from "./openai-speech-tts.js";

export interface Engines {
  stt: SttEngine;
  llm: LlmClient;
  tts: TtsEngine;
  /** The fixed phrases' audio, filled once the TTS engine is ready. */
  phrases: PreparedPhraseCache;
  /** Resolves when the TTS engine is loaded and the phrases are prepared (or failed: see the logs). */
  ready: Promise<void>;
  /** Asks the LLM server whether it serves the model (`GET /models`); rejects saying what is wrong. */
  probeLlm: (signal: AbortSignal) => Promise<void>;
}

export function createEngines(env: Env, phrases: readonly string[], log: Log): Engines {
  const stt = buildStt(env, log.child({ engine: "stt" }));
  const llm = buildLlm(env, log.child({ engine: "llm" }));
  const { tts, loaded } = buildTts(env, log.child({ engine: "tts" }));
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
        { engine: "tts", err: error instanceof Error ? error.message : String(error) },
        "the TTS engine failed to load: calls will be answered but cannot be spoken to",
      );
    },
  );
  return { stt, llm, tts, phrases: phraseCache, ready, probeLlm: (signal) => llm.probe(signal) };
}

function buildStt(env: Env, log: Log): SttEngine {
  if (env.STT_PROVIDER === "whisper") {
    return unavailableStt("STT_PROVIDER=whisper is not available in this build yet");
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
    return unavailableStt(error instanceof Error ? error.message : String(error));
  }
}

function buildLlm(env: Env, log: Log): OpenAiLlmClient {
  return new OpenAiLlmClient({
    baseUrl: env.LLM_BASE_URL,
    model: env.LLM_MODEL,
    apiKey: env.LLM_API_KEY,
    provider: llmProvider(env),
    enableThinking: env.LLM_ENABLE_THINKING,
    temperature: env.LLM_TEMPERATURE,
    logger: log,
  });
}

function buildTts(env: Env, log: Log): { tts: TtsEngine; loaded: Promise<void> } {
  switch (env.TTS_PROVIDER) {
    case "kokoro":
      return deferredTts(
        "kokoro",
        loadKokoro({
          voice: env.KOKORO_VOICE,
          dtype: env.KOKORO_DTYPE,
          modelDir: env.KOKORO_MODEL_DIR,
          logger: log,
        }),
      );
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
      return { tts, loaded: Promise.resolve() };
    }
    case "piper":
      return failedTts("piper", "TTS_PROVIDER=piper is not available in this build yet");
  }
}

/** A TTS engine whose model is still loading: synthesis waits for it, and fails with its load error. */
function deferredTts(name: string, loading: Promise<TtsEngine>): { tts: TtsEngine; loaded: Promise<void> } {
  // Observed here so a failed load is never an unhandled rejection, even before any call used it.
  const settled = loading.then(
    (engine) => ({ engine }),
    (error: unknown) => ({ error }),
  );
  const tts: TtsEngine = {
    name,
    async *synthesize(text, options) {
      const result = await settled;
      if ("error" in result) {
        throw result.error instanceof EngineError
          ? result.error
          : new EngineError("tts", "connect", `${name} failed to load: ${String(result.error)}`);
      }
      yield* result.engine.synthesize(text, options);
    },
  };
  return {
    tts,
    loaded: settled.then((result) => {
      if ("error" in result) throw result.error;
    }),
  };
}

function failedTts(name: string, reason: string): { tts: TtsEngine; loaded: Promise<void> } {
  return deferredTts(name, Promise.reject(new EngineError("tts", "connect", reason)));
}

/** An STT engine that reports, as soon as a call opens it, why it cannot transcribe. */
function unavailableStt(reason: string): SttEngine {
  return {
    name: "unavailable",
    open({ onEvent }: { onEvent: (event: SttEvent) => void }): SttSession {
      // Reported after `open` returns, as a real engine's connection failure would be.
      queueMicrotask(() => onEvent({ type: "failed", error: new EngineError("stt", "connect", reason) }));
      return { sendAudio() {}, finalize() {}, close: async () => {} };
    },
  };
}
