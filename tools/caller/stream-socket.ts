/**
 * Opens the media stream's WebSocket as Twilio would: at the TwiML's `wss://` URL, with an
 * `X-Twilio-Signature` over that URL (and no parameters) when an auth token is known.
 */
import twilio from "twilio";
import { WebSocket } from "ws";
import { CallerError } from "./errors.js";

/**
 * The URL to connect to. Twilio only opens `wss://` and the TwiML always says so, but a server run locally
 * listens on plain http, and the TwiML's host (its PUBLIC_URL) may be a public name that does not reach this
 * machine. So for an `http://` server URL the caller keeps the TwiML's path and connects with `ws://` to the
 * host the user gave; the signature still covers the TwiML's `wss://` URL, which is what the server checks.
 * For an `https://` server URL it connects exactly where Twilio would.
 */
export function streamSocketUrl(twimlUrl: string, serverUrl: string): string {
  const server = new URL(serverUrl);
  if (server.protocol === "https:") return twimlUrl;
  const stream = new URL(twimlUrl);
  return `ws://${server.host}${stream.pathname}${stream.search}`;
}

export function openStreamSocket(options: {
  twimlUrl: string;
  serverUrl: string;
  authToken?: string;
  signal?: AbortSignal;
}): Promise<WebSocket> {
  const url = streamSocketUrl(options.twimlUrl, options.serverUrl);
  const headers: Record<string, string> = {};
  if (options.authToken) {
    headers["x-twilio-signature"] = twilio.getExpectedTwilioSignature(
      options.authToken,
      options.twimlUrl,
      {},
    );
  }
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, { headers, handshakeTimeout: 10_000 });
    const settle = (error?: unknown) => {
      options.signal?.removeEventListener("abort", onAbort);
      socket.off("open", onOpen);
      socket.off("error", onError);
      socket.off("unexpected-response", onRefused);
      if (error === undefined) return resolve(socket);
      // Keep a late error from the abandoned socket from becoming an unhandled 'error' event.
      socket.on("error", () => {});
      socket.terminate();
      reject(error);
    };
    const onOpen = () => settle();
    const onAbort = () => settle(options.signal?.reason);
    const onError = (error: Error) => {
      const code = (error as NodeJS.ErrnoException).code;
      settle(
        code === "ECONNREFUSED"
          ? new CallerError("server-unreachable", `no server accepts the media stream at ${url}`, {
              cause: error,
            })
          : new CallerError("stream-failed", `the media stream ${url} failed to open: ${error.message}`, {
              cause: error,
            }),
      );
    };
    const onRefused = (_request: unknown, response: { statusCode?: number; resume(): void }) => {
      response.resume();
      settle(refusal(url, response.statusCode ?? 0, Boolean(options.authToken)));
    };
    socket.on("open", onOpen);
    socket.on("error", onError);
    socket.on("unexpected-response", onRefused);
    if (options.signal?.aborted) onAbort();
    else options.signal?.addEventListener("abort", onAbort, { once: true });
  });
}

function refusal(url: string, status: number, signed: boolean): CallerError {
  if (status === 403) {
    return new CallerError(
      "stream-refused",
      signed
        ? `the server refused the media stream's X-Twilio-Signature (403 from ${url}): the caller signed the ` +
            "TwiML's wss:// URL with its auth token; check that it is the server's TWILIO_AUTH_TOKEN"
        : `the server wants a signed media stream (403 from ${url}): give the caller the server's TWILIO_AUTH_TOKEN`,
    );
  }
  if (status === 503) {
    return new CallerError(
      "stream-refused",
      `the server is shutting down and refused the stream (503 from ${url})`,
    );
  }
  return new CallerError(
    "stream-refused",
    `the server refused the media stream with HTTP ${status} (${url})`,
  );
}
