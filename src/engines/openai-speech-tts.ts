import { EngineError, type TtsEngine } from "../../machines/engines.js";
import type { EngineLogger } from "./engine-logger.js";
import { endpointForLogs, parseServerUrl, speakOverHttp } from "./speech-http.js";
import { type PcmPiece, warmUpTts } from "./tts-audio.js";

export interface OpenAiSpeechTtsOptions {
  /** The API root, e.g. `http://gpu-box:8880/v1` (Kokoro-FastAPI) or `https://api.openai.com/v1`. */
  baseUrl: string;
  /** Sent as `model`, e.g. `kokoro` or `tts-1`. */
  model: string;
  /** Sent as `voice`, e.g. `af_heart` or `alloy`. */
  voice: string;
  /** Sent as `Authorization: Bearer <apiKey>` when set; never logged. */
  apiKey?: string;
  /** Sent as `speed` when set (OpenAI accepts 0.25 to 4). */
  speed?: number;
  /** Rate of the PCM the server returns (default 24000, what OpenAI documents for `pcm`). */
  sampleRate?: number;
  /** Longest wait from the request to the first byte of audio (default 5000 ms). */
  firstByteTimeoutMs?: number;
  /** Longest silence between two pieces of the body once audio flows (default 5000 ms). */
  stallTimeoutMs?: number;
  logger?: Pick<EngineLogger, "debug" | "warn">;
}

export interface OpenAiSpeechTts extends TtsEngine {
  /** Speaks a short phrase and discards it: at start-up, proves the URL, key, model and voice work. */
  warmUp(): Promise<void>;
}

/** Content types that mean the server did not send raw PCM (an error page, or a format it chose itself). */
const NOT_PCM = /^(application\/json|text\/|audio\/(mpeg|mp3|ogg|opus|aac|flac|wav|x-wav|wave))/i;

export function createOpenAiSpeechTts(options: OpenAiSpeechTtsOptions): OpenAiSpeechTts {
  const endpoint = speechEndpoint(options.baseUrl);
  const where = endpointForLogs(endpoint);
  for (const name of ["model", "voice"] as const) {
    if (options[name].trim() === "") {
      throw new EngineError("tts", "connect", `speech ${name} is empty; the server at ${where} needs one`);
    }
  }
  const sampleRate = options.sampleRate ?? 24_000;
  const firstByteTimeoutMs = options.firstByteTimeoutMs ?? 5000;
  const stallTimeoutMs = options.stallTimeoutMs ?? 5000;
  const { logger } = options;
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (options.apiKey) headers.authorization = `Bearer ${options.apiKey}`;

  function synthesize(
    text: string,
    { callId, signal }: { callId: string; signal: AbortSignal },
  ): AsyncGenerator<Uint8Array> {
    // Raw PCM, converted piece by piece as it streams in.
    async function* bodyAudio(body: AsyncIterable<Uint8Array>): AsyncGenerator<PcmPiece> {
      const pcm = createPcm16leDecoder();
      for await (const bytes of body) yield { samples: pcm.decode(bytes), sampleRate };
      if (pcm.pendingByte) {
        logger?.warn(
          { callId, engine: "tts", endpoint: where },
          "speech server sent an odd number of PCM bytes",
        );
      }
    }
    return speakOverHttp({
      request: {
        endpoint,
        where,
        serverLabel: "speech server",
        headers,
        body: JSON.stringify({
          model: options.model,
          input: text,
          voice: options.voice,
          response_format: "pcm",
          ...(options.speed === undefined ? {} : { speed: options.speed }),
        }),
        firstByteTimeoutMs,
        stallTimeoutMs,
        checkResponse(response) {
          const contentType = response.headers.get("content-type") ?? "";
          if (NOT_PCM.test(contentType)) {
            throw new EngineError(
              "tts",
              "protocol",
              `speech server ${where} answered ${contentType} instead of raw PCM; it must support response_format "pcm"`,
            );
          }
        },
      },
      decode: bodyAudio,
      text,
      callId,
      signal,
      logger,
      done: "speech segment synthesised",
    });
  }

  const engine: TtsEngine = { name: "openai-speech", synthesize };
  // Only that the whole request succeeds matters here: it proves the URL, and the voice, work.
  return { ...engine, warmUp: () => warmUpTts(engine, "Hello.", () => undefined) };
}

/**
 * Decodes a little-endian int16 byte stream that arrives in arbitrary pieces: a piece may end in the middle
 * of a sample, whose first byte is then carried over to the next piece. Reuses one buffer, so the returned
 * view is only valid until the next call.
 */
export function createPcm16leDecoder(): {
  decode(bytes: Uint8Array): Int16Array;
  readonly pendingByte: boolean;
} {
  let carried = -1;
  let buffer = new Int16Array(0);
  return {
    get pendingByte() {
      return carried >= 0;
    },
    decode(bytes) {
      const available = bytes.length + (carried >= 0 ? 1 : 0);
      const count = available >> 1;
      if (buffer.length < count) buffer = new Int16Array(Math.max(count, buffer.length * 2));
      let read = 0;
      let written = 0;
      if (carried >= 0 && bytes.length > 0) {
        buffer[written++] = toInt16(carried, bytes[read++] as number);
        carried = -1;
      }
      while (read + 1 < bytes.length) {
        buffer[written++] = toInt16(bytes[read] as number, bytes[read + 1] as number);
        read += 2;
      }
      if (read < bytes.length) carried = bytes[read] as number;
      return buffer.subarray(0, written);
    },
  };
}

function toInt16(low: number, high: number): number {
  return ((high << 24) >> 16) | low;
}

function speechEndpoint(baseUrl: string): string {
  const url = parseServerUrl(baseUrl, "speech baseUrl", "http://host:8880/v1");
  return `${url.href.replace(/\/+$/, "")}/audio/speech`;
}
