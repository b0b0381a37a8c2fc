/**
 * What a Deepgram stream is configured with, apart from the session's behaviour: the options and their
 * defaults, their validation, the `/v1/listen` query they become, and the audio format the encoding implies.
 */
import type { DeepgramClient } from "@deepgram/sdk";
import { EngineError } from "../../../machines/engines.js";

/** The options of a Deepgram stream and of the session around it (everything but the key, URL and logger). */
export interface DeepgramStreamOptions {
  /** Default "nova-3". */
  model?: string;
  /** Default "en". */
  language?: string;
  /**
   * "mulaw" (default): Twilio's mu-law 8 kHz bytes, unchanged. "linear16": converted here to PCM16 16 kHz
   * (four times the bytes; for models or deployments that want linear audio).
   */
  encoding?: "mulaw" | "linear16";
  /** Interim (not yet final) results. Default true; `UtteranceEnd` needs them. */
  interimResults?: boolean;
  /** Silence in ms after which Deepgram marks a result `speech_final`; false turns endpointing off. Default 300. */
  endpointingMs?: number | false;
  /** Gap in ms after the last word for an `UtteranceEnd` (Deepgram accepts 1000 or more); null: none. Default 1000. */
  utteranceEndMs?: number | null;
  /** `SpeechStarted` events, used for barge-in. Default true. */
  vadEvents?: boolean;
  /** Smart formatting (punctuation, numerals). Default true. */
  smartFormat?: boolean;
  /** Nova-3 key terms to boost (names, products). Default none. */
  keyterms?: readonly string[];
  /** A `KeepAlive` goes out when no audio was sent for this long. Default 3000 ms. */
  keepAliveIntervalMs?: number;
  /** Time allowed for one connection attempt. Default 5000 ms. */
  connectTimeoutMs?: number;
  /** Consecutive failed connection attempts before the session reports `failed`. Default 5. */
  maxConnectAttempts?: number;
  /** First retry delay after a failed attempt, doubled each time up to `reconnectMaxDelayMs`. Default 250 ms. */
  reconnectBaseDelayMs?: number;
  /** Default 4000 ms. */
  reconnectMaxDelayMs?: number;
  /** Audio kept while disconnected; older audio is dropped beyond it (with a log line). Default 10000 ms. */
  maxBufferedMs?: number;
  /** How long `close()` waits for Deepgram's last results and its close after `CloseStream`. Default 2000 ms. */
  closeTimeoutMs?: number;
}

export const DEEPGRAM_STT_DEFAULTS = {
  model: "nova-3",
  language: "en",
  encoding: "mulaw",
  interimResults: true,
  endpointingMs: 300,
  utteranceEndMs: 1000,
  vadEvents: true,
  smartFormat: true,
  keepAliveIntervalMs: 3000,
  connectTimeoutMs: 5000,
  maxConnectAttempts: 5,
  reconnectBaseDelayMs: 250,
  reconnectMaxDelayMs: 4000,
  maxBufferedMs: 10_000,
  closeTimeoutMs: 2000,
} as const;

/** Every option with its value decided. */
export type DeepgramSettings = Required<Omit<DeepgramStreamOptions, "keyterms">> & {
  keyterms: readonly string[];
};

type ListenClient = DeepgramClient["listen"]["v1"];
export type ListenArgs = Parameters<ListenClient["connect"]>[0];

/** The options with their defaults; throws for a combination Deepgram would refuse or the session cannot use. */
export function resolveSettings(options: DeepgramStreamOptions): DeepgramSettings {
  const d = DEEPGRAM_STT_DEFAULTS;
  const settings: DeepgramSettings = {
    model: options.model ?? d.model,
    language: options.language ?? d.language,
    encoding: options.encoding ?? d.encoding,
    interimResults: options.interimResults ?? d.interimResults,
    endpointingMs: options.endpointingMs ?? d.endpointingMs,
    utteranceEndMs: options.utteranceEndMs === undefined ? d.utteranceEndMs : options.utteranceEndMs,
    vadEvents: options.vadEvents ?? d.vadEvents,
    smartFormat: options.smartFormat ?? d.smartFormat,
    keyterms: options.keyterms ?? [],
    keepAliveIntervalMs: options.keepAliveIntervalMs ?? d.keepAliveIntervalMs,
    connectTimeoutMs: options.connectTimeoutMs ?? d.connectTimeoutMs,
    maxConnectAttempts: options.maxConnectAttempts ?? d.maxConnectAttempts,
    reconnectBaseDelayMs: options.reconnectBaseDelayMs ?? d.reconnectBaseDelayMs,
    reconnectMaxDelayMs: options.reconnectMaxDelayMs ?? d.reconnectMaxDelayMs,
    maxBufferedMs: options.maxBufferedMs ?? d.maxBufferedMs,
    closeTimeoutMs: options.closeTimeoutMs ?? d.closeTimeoutMs,
  };
  if (settings.encoding !== "mulaw" && settings.encoding !== "linear16") {
    throw new EngineError(
      "stt",
      "connect",
      `Deepgram encoding must be "mulaw" or "linear16", got "${settings.encoding}"`,
    );
  }
  if (settings.utteranceEndMs !== null && !settings.interimResults) {
    throw new EngineError(
      "stt",
      "connect",
      "Deepgram utterance_end_ms needs interim results: set interimResults",
    );
  }
  for (const name of [
    "keepAliveIntervalMs",
    "connectTimeoutMs",
    "maxConnectAttempts",
    "reconnectMaxDelayMs",
    "maxBufferedMs",
    "closeTimeoutMs",
  ] as const) {
    const value = settings[name];
    if (!(value > 0) || !Number.isFinite(value)) {
      throw new RangeError(`deepgram stt: ${name} must be a positive number, got ${value}`);
    }
  }
  if (!(settings.reconnectBaseDelayMs >= 0)) {
    throw new RangeError(
      `deepgram stt: reconnectBaseDelayMs must be 0 or more, got ${settings.reconnectBaseDelayMs}`,
    );
  }
  return settings;
}

/**
 * What the encoding means for the bytes sent (mu-law 8 kHz as Twilio sends it, or PCM16 16 kHz), and how many
 * whole samples of it `maxBufferedMs` holds.
 */
export function streamFormat(settings: DeepgramSettings): {
  sampleRate: 8000 | 16_000;
  sampleBytes: number;
  bytesPerSecond: number;
  bufferBytes: number;
} {
  const format =
    settings.encoding === "linear16"
      ? ({ sampleRate: 16_000, sampleBytes: 2, bytesPerSecond: 32_000 } as const)
      : ({ sampleRate: 8000, sampleBytes: 1, bytesPerSecond: 8000 } as const);
  const samples = Math.ceil((format.bytesPerSecond * settings.maxBufferedMs) / 1000 / format.sampleBytes);
  return { ...format, bufferBytes: samples * format.sampleBytes };
}

/** The wait before the next connection attempt after `failures` failed ones in a row (1 or more). */
export function retryDelayMs(settings: DeepgramSettings, failures: number): number {
  return Math.min(settings.reconnectBaseDelayMs * 2 ** (failures - 1), settings.reconnectMaxDelayMs);
}

/** The `/v1/listen` query (and the SDK's connection options) for these settings. */
export function listenArgs(settings: DeepgramSettings): ListenArgs {
  const args: ListenArgs = {
    model: settings.model,
    language: settings.language,
    encoding: settings.encoding,
    sample_rate: streamFormat(settings).sampleRate,
    channels: 1,
    interim_results: String(settings.interimResults),
    endpointing: settings.endpointingMs === false ? "false" : settings.endpointingMs,
    vad_events: String(settings.vadEvents),
    smart_format: String(settings.smartFormat),
    // Reconnecting is the session's job (see deepgram-stt.ts), never the SDK's.
    reconnectAttempts: 0,
    connectionTimeoutInSeconds: settings.connectTimeoutMs / 1000,
  };
  if (settings.utteranceEndMs !== null) args.utterance_end_ms = settings.utteranceEndMs;
  if (settings.keyterms.length > 0) args.keyterm = [...settings.keyterms];
  return args;
}

/** The SDK client's options; throws for a missing key or a base URL the SDK cannot connect to. */
export function clientOptions(options: { apiKey: string; baseUrl?: string }): {
  apiKey: string;
  baseUrl?: string;
} {
  if (!options.apiKey || options.apiKey.trim() === "") {
    throw new EngineError("stt", "connect", "Deepgram API key is missing (DEEPGRAM_API_KEY)");
  }
  if (options.baseUrl === undefined) return { apiKey: options.apiKey };
  checkBaseUrl(options.baseUrl);
  return { apiKey: options.apiKey, baseUrl: options.baseUrl.replace(/\/+$/, "") };
}

function checkBaseUrl(baseUrl: string): void {
  let protocol: string;
  try {
    protocol = new URL(baseUrl).protocol;
  } catch {
    throw new EngineError("stt", "connect", `Deepgram base URL is not a URL: "${baseUrl}"`);
  }
  if (!["ws:", "wss:", "http:", "https:"].includes(protocol)) {
    throw new EngineError("stt", "connect", `Deepgram base URL must be ws(s) or http(s), got "${protocol}"`);
  }
}
