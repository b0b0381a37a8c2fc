/**
 * OpenAI-compatible speech (`POST {baseUrl}/audio/speech`) as a `TtsEngine`: Kokoro-FastAPI, speaches or
 * OpenAI itself serving the voice from another box.
 *
 * It asks for `response_format: "pcm"` (raw 24 kHz signed 16-bit little-endian mono, no header, so the first
 * bytes are already audio) and converts the body to mu-law 8 kHz as it arrives, chunk by chunk, so the caller
 * hears the start of a sentence while the server is still sending the rest.
 */
import type { Logger } from "pino";
import { EngineError, type TtsEngine } from "../../machines/engines.js";
import { type PcmPiece, toTelephonyAudio, ttsAbortedError } from "./tts-audio.js";

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
  logger?: Pick<Logger, "debug" | "warn">;
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

  async function* synthesize(
    text: string,
    { callId, signal }: { callId: string; signal: AbortSignal },
  ): AsyncGenerator<Uint8Array> {
    if (signal.aborted) throw ttsAbortedError();
    if (text.trim() === "") return;
    const startedAt = performance.now();
    const request = new AbortController();
    let timedOut: string | undefined;
    let timer: NodeJS.Timeout | undefined;
    const armTimer = (ms: number, what: string) => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        timedOut = `${where} sent ${what} within ${ms} ms`;
        request.abort();
      }, ms);
    };
    const forwardAbort = () => request.abort();
    signal.addEventListener("abort", forwardAbort, { once: true });

    /** What went wrong, once the request or the body failed: the caller's abort and our timeouts come first. */
    const failure = (error: unknown, connectionStage: boolean): EngineError => {
      if (error instanceof EngineError) return error;
      if (signal.aborted) return ttsAbortedError();
      const cause = { cause: error };
      if (timedOut !== undefined) {
        return new EngineError("tts", "timeout", `speech server ${timedOut}`, cause);
      }
      if (connectionStage) {
        return new EngineError(
          "tts",
          "connect",
          `cannot reach speech server ${where}: ${describeCause(error)}`,
          cause,
        );
      }
      return new EngineError(
        "tts",
        "closed",
        `speech server ${where} broke off the audio: ${describeCause(error)}`,
        cause,
      );
    };

    try {
      armTimer(firstByteTimeoutMs, "no audio");
      let response: Response;
      try {
        response = await fetch(endpoint, {
          method: "POST",
          headers,
          body: JSON.stringify({
            model: options.model,
            input: text,
            voice: options.voice,
            response_format: "pcm",
            ...(options.speed === undefined ? {} : { speed: options.speed }),
          }),
          signal: request.signal,
        });
      } catch (error) {
        throw failure(error, true);
      }
      if (!response.ok) {
        const error = await httpError(response, where);
        throw signal.aborted ? ttsAbortedError() : error;
      }
      const contentType = response.headers.get("content-type") ?? "";
      if (NOT_PCM.test(contentType)) {
        throw new EngineError(
          "tts",
          "protocol",
          `speech server ${where} answered ${contentType} instead of raw PCM; it must support response_format "pcm"`,
        );
      }
      if (response.body === null) {
        throw new EngineError("tts", "protocol", `speech server ${where} sent no body`);
      }

      const reader = response.body.getReader();
      const pcm = createPcm16leDecoder();
      let firstByteMs: number | undefined;
      async function* bodyAudio(): AsyncGenerator<PcmPiece> {
        for (;;) {
          // Only time spent waiting on the server counts; a consumer slow to ask for the next piece does not.
          if (firstByteMs !== undefined) armTimer(stallTimeoutMs, "no more audio");
          const piece = await reader.read().catch((error: unknown) => {
            throw failure(error, false);
          });
          clearTimeout(timer);
          if (piece.done) break;
          firstByteMs ??= performance.now() - startedAt;
          yield { samples: pcm.decode(piece.value), sampleRate };
        }
        if (pcm.pendingByte) {
          logger?.warn(
            { callId, engine: "tts", endpoint: where },
            "speech server sent an odd number of PCM bytes",
          );
        }
      }
      const audioMs = yield* toTelephonyAudio(bodyAudio(), signal);
      logger?.debug(
        {
          callId,
          engine: "tts",
          endpoint: where,
          chars: text.length,
          firstByteMs: firstByteMs === undefined ? undefined : Math.round(firstByteMs),
          audioMs,
          elapsedMs: Math.round(performance.now() - startedAt),
        },
        "speech segment synthesised",
      );
    } finally {
      clearTimeout(timer);
      signal.removeEventListener("abort", forwardAbort);
      // Closes the connection when the consumer stopped early or anything failed; a no-op after a full read.
      request.abort();
    }
  }

  return {
    name: "openai-speech",
    synthesize,
    async warmUp() {
      for await (const _ of synthesize("Hello.", {
        callId: "warm-up",
        signal: new AbortController().signal,
      })) {
        // Only that the whole request succeeds matters here.
      }
    },
  };
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
  let url: URL;
  try {
    url = new URL(baseUrl);
  } catch {
    throw new EngineError(
      "tts",
      "connect",
      `speech baseUrl "${baseUrl}" is not a URL (expected e.g. http://host:8880/v1)`,
    );
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new EngineError("tts", "connect", `speech baseUrl "${baseUrl}" must be http or https`);
  }
  return `${url.href.replace(/\/+$/, "")}/audio/speech`;
}

/** The endpoint without any user:password part, for messages and logs. */
function endpointForLogs(endpoint: string): string {
  const url = new URL(endpoint);
  return `${url.origin}${url.pathname}`;
}

/** Never rejects: a body that cannot be read still leaves the status to report. */
async function httpError(response: Response, where: string): Promise<EngineError> {
  const body = await response.text().catch(() => "");
  const detail = serverMessage(body);
  return new EngineError(
    "tts",
    "http",
    `speech server ${where} answered ${response.status}${response.statusText ? ` ${response.statusText}` : ""}` +
      (detail ? `: ${detail}` : ""),
  );
}

/** The message of OpenAI's `{error:{message}}`, FastAPI's `{detail}` or a plain-text body, kept short. */
function serverMessage(body: string): string {
  let message = body.trim();
  try {
    const parsed: unknown = JSON.parse(body);
    message = pickMessage(parsed) ?? message;
  } catch {
    // Not JSON: the text itself is the message.
  }
  return message.length > 300 ? `${message.slice(0, 300)}…` : message;
}

function pickMessage(value: unknown): string | undefined {
  if (typeof value === "string") return value;
  if (typeof value !== "object" || value === null) return undefined;
  const record = value as Record<string, unknown>;
  for (const key of ["error", "detail", "message"]) {
    const found = pickMessage(record[key]);
    if (found !== undefined) return found;
  }
  return undefined;
}

/** undici reports "fetch failed" and keeps the useful part (ECONNREFUSED, other side closed) in `cause`. */
function describeCause(error: unknown): string {
  const parts: string[] = [];
  let current: unknown = error;
  for (let depth = 0; depth < 4 && current instanceof Error; depth++) {
    const code = (current as { code?: unknown }).code;
    parts.push(typeof code === "string" ? `${current.message} (${code})` : current.message);
    current = current.cause;
  }
  return parts.length > 0 ? parts.join(": ") : String(error);
}
