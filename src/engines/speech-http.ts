import { EngineError } from "../../machines/engines.js";
import type { EngineLogger } from "./engine-logger.js";
import { type PcmPiece, toTelephonyAudio, ttsAbortedError } from "./tts-audio.js";

export interface AudioRequest {
  /** Where to POST (may hold user:password, which `where` must not). */
  endpoint: string;
  /** The endpoint as messages and logs show it: see `endpointForLogs`. */
  where: string;
  /** How messages name the server, e.g. "speech server" or "Piper server". */
  serverLabel: string;
  headers: Record<string, string>;
  body: string;
  /** Longest wait from the request to the first byte of audio. */
  firstByteTimeoutMs: number;
  /** Longest silence between two pieces of the body once audio flows. */
  stallTimeoutMs: number;
  signal: AbortSignal;
  /** Throws (an `EngineError` of kind "protocol") when the response is not the audio the adapter reads. */
  checkResponse?: (response: Response) => void;
  /** A line to add to an HTTP error with this status, naming the fix (e.g. a wrong path). */
  hintForStatus?: (status: number) => string | undefined;
  /** Filled in when the first piece of the body arrives: ms since the request started, for the log line. */
  timing?: { firstByteMs?: number };
}

/**
 * One segment spoken by a remote voice, end to end: the request, the body turned into PCM by `decode` (raw
 * PCM as it streams, or a whole WAV), mu-law 8 kHz out, and one debug line with the segment's timings.
 */
export async function* speakOverHttp(segment: {
  request: Omit<AudioRequest, "signal" | "timing">;
  decode: (body: AsyncIterable<Uint8Array>) => AsyncIterable<PcmPiece>;
  text: string;
  callId: string;
  signal: AbortSignal;
  logger: Pick<EngineLogger, "debug"> | undefined;
  /** The debug line's message, e.g. "piper segment synthesised". */
  done: string;
}): AsyncGenerator<Uint8Array> {
  const { text, callId, signal, request } = segment;
  if (signal.aborted) throw ttsAbortedError();
  // Nothing to say; Piper's server even refuses empty text with an error page.
  if (text.trim() === "") return;
  const startedAt = performance.now();
  const timing: { firstByteMs?: number } = {};
  const body = postForAudio({ ...request, signal, timing });
  const audioMs = yield* toTelephonyAudio(segment.decode(body), signal);
  segment.logger?.debug(
    {
      callId,
      engine: "tts",
      endpoint: request.where,
      chars: text.length,
      firstByteMs: timing.firstByteMs === undefined ? undefined : Math.round(timing.firstByteMs),
      audioMs,
      elapsedMs: Math.round(performance.now() - startedAt),
    },
    segment.done,
  );
}

/**
 * POSTs the request and yields the response body piece by piece. Stopping early (the consumer's `return`)
 * or any failure closes the connection.
 */
export async function* postForAudio(request: AudioRequest): AsyncGenerator<Uint8Array> {
  const { signal, where, serverLabel } = request;
  if (signal.aborted) throw ttsAbortedError();
  const startedAt = performance.now();
  const connection = new AbortController();
  let timedOut: string | undefined;
  let timer: NodeJS.Timeout | undefined;
  const armTimer = (ms: number, what: string) => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      timedOut = `${where} sent ${what} within ${ms} ms`;
      connection.abort();
    }, ms);
  };
  const forwardAbort = () => connection.abort();
  signal.addEventListener("abort", forwardAbort, { once: true });

  /** What went wrong, once the request or the body failed: the caller's abort and our timeouts come first. */
  const failure = (error: unknown, connectionStage: boolean): EngineError => {
    if (error instanceof EngineError) return error;
    if (signal.aborted) return ttsAbortedError();
    const cause = { cause: error };
    if (timedOut !== undefined) return new EngineError("tts", "timeout", `${serverLabel} ${timedOut}`, cause);
    if (connectionStage) {
      return new EngineError(
        "tts",
        "connect",
        `cannot reach ${serverLabel} ${where}: ${describeCause(error)}`,
        cause,
      );
    }
    return new EngineError(
      "tts",
      "closed",
      `${serverLabel} ${where} broke off the audio: ${describeCause(error)}`,
      cause,
    );
  };

  try {
    armTimer(request.firstByteTimeoutMs, "no audio");
    let response: Response;
    try {
      response = await fetch(request.endpoint, {
        method: "POST",
        headers: request.headers,
        body: request.body,
        signal: connection.signal,
      });
    } catch (error) {
      throw failure(error, true);
    }
    if (!response.ok) {
      const error = await httpError(response, `${serverLabel} ${where}`, request.hintForStatus);
      throw signal.aborted ? ttsAbortedError() : error;
    }
    request.checkResponse?.(response);
    if (response.body === null) {
      throw new EngineError("tts", "protocol", `${serverLabel} ${where} sent no body`);
    }
    const reader = response.body.getReader();
    let flowing = false;
    for (;;) {
      // Only time spent waiting on the server counts; a consumer slow to ask for the next piece does not.
      if (flowing) armTimer(request.stallTimeoutMs, "no more audio");
      const piece = await reader.read().catch((error: unknown) => {
        throw failure(error, false);
      });
      clearTimeout(timer);
      if (piece.done) return;
      if (!flowing && request.timing) request.timing.firstByteMs = performance.now() - startedAt;
      flowing = true;
      yield piece.value;
    }
  } finally {
    clearTimeout(timer);
    signal.removeEventListener("abort", forwardAbort);
    // Closes the connection when the consumer stopped early or anything failed; a no-op after a full read.
    connection.abort();
  }
}

/** Parses an http(s) base URL; `example` shows the expected form in the error. */
export function parseServerUrl(baseUrl: string, setting: string, example: string): URL {
  let url: URL;
  try {
    url = new URL(baseUrl);
  } catch {
    throw new EngineError(
      "tts",
      "connect",
      `${setting} "${baseUrl}" is not a URL (expected e.g. ${example})`,
    );
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new EngineError("tts", "connect", `${setting} "${baseUrl}" must be http or https`);
  }
  return url;
}

/** The endpoint without any user:password part, for messages and logs. */
export function endpointForLogs(endpoint: string): string {
  const url = new URL(endpoint);
  return `${url.origin}${url.pathname}`;
}

/** Never rejects: a body that cannot be read still leaves the status to report. */
async function httpError(
  response: Response,
  server: string,
  hintForStatus: ((status: number) => string | undefined) | undefined,
): Promise<EngineError> {
  const body = await response.text().catch(() => "");
  const detail = serverMessage(body);
  const hint = hintForStatus?.(response.status);
  return new EngineError(
    "tts",
    "http",
    `${server} answered ${response.status}${response.statusText ? ` ${response.statusText}` : ""}` +
      (detail ? `: ${detail}` : "") +
      (hint ? `; ${hint}` : ""),
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
