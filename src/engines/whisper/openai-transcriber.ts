/**
 * Whisper behind an OpenAI-compatible `POST {baseUrl}/audio/transcriptions` (speaches, whisper.cpp's
 * `whisper-server --request-path /v1 --inference-path /audio/transcriptions`, vLLM, OpenAI), through the
 * `openai` SDK. Each segment goes up as a 16 kHz mono 16-bit WAV, the format every one of those servers
 * decodes without ffmpeg, with `temperature: 0` (greedy decoding: the same audio gives the same words, and
 * no sampling fallbacks that add seconds) and `response_format: "json"` (`{"text": ...}`).
 */
import OpenAI, { toFile } from "openai";
import { floatToPcm16 } from "../../audio/pcm.js";
import { writeWav } from "../../audio/wav.js";
import { messageOf } from "../../error-message.js";
import { type SegmentTranscriber, TranscriptionError, WHISPER_SAMPLE_RATE } from "./transcriber.js";

export interface OpenAiTranscriberOptions {
  /** The API root including `/v1`, e.g. `http://localhost:8000/v1` (speaches). */
  baseUrl: string;
  /** Sent as `model`, e.g. `tiny.en` or `Systran/faster-whisper-tiny.en`. */
  model: string;
  /** ISO-639-1 code sent as `language` (default "en"): skips Whisper's language guess on short segments. */
  language?: string;
  /** Sent as a Bearer token; never logged. Default "EMPTY" (self-hosted servers want none). */
  apiKey?: string;
  /** Longest wait for one segment's answer (default 10,000 ms). */
  timeoutMs?: number;
}

/** Answers that no retry can fix: the key is refused or the server does not know the model. */
const PERMANENT_STATUSES = new Set([401, 403, 404]);

export function createOpenAiTranscriber(options: OpenAiTranscriberOptions): SegmentTranscriber {
  const baseUrl = validBaseUrl(options.baseUrl);
  if (options.model.trim() === "") {
    throw new TranscriptionError("connect", `Whisper model is empty; ${baseUrl} needs one`, true);
  }
  const endpoint = `${withoutCredentials(baseUrl)}/audio/transcriptions`;
  const language = options.language ?? "en";
  // No SDK retries: on a call a retry doubles the silence; the engine moves on with empty words instead.
  const client = new OpenAI({
    baseURL: baseUrl,
    apiKey: options.apiKey || "EMPTY",
    maxRetries: 0,
    timeout: options.timeoutMs ?? 10_000,
  });

  return {
    describe: `Whisper server ${endpoint} (model ${options.model})`,
    async transcribe(audio, signal) {
      const wav = writeWav({
        sampleRate: WHISPER_SAMPLE_RATE,
        channels: 1,
        format: "pcm16",
        samples: floatToPcm16(audio),
      });
      try {
        const file = await toFile(wav, "segment.wav", { type: "audio/wav" });
        const answer = await client.audio.transcriptions.create(
          { file, model: options.model, language, temperature: 0, response_format: "json" },
          { signal },
        );
        if (typeof answer?.text !== "string") {
          throw new TranscriptionError("protocol", `${endpoint} answered without a "text" field`, false);
        }
        return { text: answer.text.trim(), confidence: 1 };
      } catch (error) {
        throw failure(error, endpoint, options.model, signal);
      }
    },
  };
}

function failure(error: unknown, endpoint: string, model: string, signal: AbortSignal): TranscriptionError {
  if (error instanceof TranscriptionError) return error;
  const cause = { cause: error };
  if (signal.aborted || error instanceof OpenAI.APIUserAbortError) {
    return new TranscriptionError("aborted", `transcription at ${endpoint} aborted`, false, cause);
  }
  if (error instanceof OpenAI.APIConnectionTimeoutError) {
    return new TranscriptionError("timeout", `${endpoint} did not answer in time`, false, cause);
  }
  if (error instanceof OpenAI.APIConnectionError) {
    const reason = error.cause instanceof Error ? `: ${error.cause.message}` : "";
    return new TranscriptionError(
      "connect",
      `cannot reach the Whisper server ${endpoint}${reason}`,
      false,
      cause,
    );
  }
  if (error instanceof OpenAI.APIError && typeof error.status === "number") {
    const permanent = PERMANENT_STATUSES.has(error.status);
    const fix =
      error.status === 404
        ? ` (is model "${model}" served there? check WHISPER_MODEL and WHISPER_BASE_URL)`
        : error.status === 401 || error.status === 403
          ? " (the server refused the API key)"
          : "";
    return new TranscriptionError(
      "http",
      `Whisper server ${endpoint} answered HTTP ${error.status}: ${error.message}${fix}`,
      permanent,
      cause,
    );
  }
  return new TranscriptionError(
    "unknown",
    `transcription at ${endpoint} failed: ${messageOf(error)}`,
    false,
    cause,
  );
}

function validBaseUrl(baseUrl: string): string {
  let url: URL;
  try {
    url = new URL(baseUrl);
  } catch {
    throw new TranscriptionError(
      "connect",
      `WHISPER_BASE_URL "${baseUrl}" is not a URL (expected e.g. http://localhost:8000/v1)`,
      true,
    );
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new TranscriptionError(
      "connect",
      `WHISPER_BASE_URL must be http or https, got "${url.protocol}"`,
      true,
    );
  }
  return baseUrl.replace(/\/+$/, "");
}

/** The URL without any user:password part, for messages and logs. */
function withoutCredentials(baseUrl: string): string {
  const url = new URL(baseUrl);
  return `${url.origin}${url.pathname.replace(/\/+$/, "")}`;
}
