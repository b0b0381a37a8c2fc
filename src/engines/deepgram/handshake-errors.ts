/** What a failed Deepgram connection means: the error the call sees, and whether trying again can help. */
import { EngineError } from "../../../machines/engines.js";

/**
 * Classifies a failed handshake. The SDK surfaces the `ws` error, whose message carries the HTTP status of
 * a refused upgrade ("Unexpected server response: 401"). A refused key or refused options will not get
 * better by retrying; anything else (network, 5xx, 429, timeout) might.
 */
export function connectError(error: unknown): { error: EngineError; permanent: boolean } {
  const text = errorText(error);
  const status = Number(/Unexpected server response: (\d{3})/.exec(text)?.[1]);
  if (status === 401 || status === 403) {
    return {
      error: new EngineError("stt", "connect", `Deepgram rejected the API key (HTTP ${status})`, {
        cause: error,
      }),
      permanent: true,
    };
  }
  if (status === 400) {
    return {
      error: new EngineError("stt", "connect", "Deepgram rejected the stream options (HTTP 400)", {
        cause: error,
      }),
      permanent: true,
    };
  }
  const what = text === "TIMEOUT" ? "connection timed out" : text;
  return {
    error: new EngineError("stt", "connect", `Deepgram connection failed: ${what}`, { cause: error }),
    permanent: false,
  };
}

/** The message of an Error, or of the SDK's ErrorEvent-like objects (`{ message }`). */
export function errorText(error: unknown): string {
  if (error instanceof Error) return error.message;
  if (
    typeof error === "object" &&
    error !== null &&
    "message" in error &&
    typeof error.message === "string"
  ) {
    return error.message;
  }
  return String(error);
}
