/**
 * Posts a Twilio webhook (form-encoded, signed with the `twilio` library when an auth token is given) and
 * turns every way it can fail into a CallerError that says what to check.
 */
import twilio from "twilio";
import { CallerError } from "./errors.js";

export interface WebhookRequest {
  /** Where the server listens, e.g. `http://localhost:8080`. */
  serverUrl: string;
  /** The base the server believes Twilio calls (its PUBLIC_URL): the signature covers this URL, not `serverUrl`. */
  publicUrl: string;
  path: string;
  form: Record<string, string>;
  authToken?: string;
  signal?: AbortSignal;
  timeoutMs?: number;
}

export interface WebhookResponse {
  status: number;
  body: string;
}

/** Twilio waits 15 s for a voice webhook before it gives up on the call. */
const TWILIO_WEBHOOK_TIMEOUT_MS = 15_000;

export async function postTwilioWebhook(request: WebhookRequest): Promise<WebhookResponse> {
  const target = joinUrl(request.serverUrl, request.path);
  const signedUrl = joinUrl(request.publicUrl, request.path);
  const headers: Record<string, string> = {
    "content-type": "application/x-www-form-urlencoded",
    // What Twilio sends; some servers branch on it.
    "user-agent": "TwilioProxy/1.1",
  };
  if (request.authToken) {
    headers["x-twilio-signature"] = twilio.getExpectedTwilioSignature(
      request.authToken,
      signedUrl,
      request.form,
    );
  }
  const timeoutMs = request.timeoutMs ?? TWILIO_WEBHOOK_TIMEOUT_MS;
  const timeout = AbortSignal.timeout(timeoutMs);
  let response: Response;
  try {
    response = await fetch(target, {
      method: "POST",
      headers,
      body: new URLSearchParams(request.form).toString(),
      signal: request.signal ? AbortSignal.any([request.signal, timeout]) : timeout,
    });
  } catch (error) {
    if (request.signal?.aborted) throw request.signal.reason;
    throw unreachable(target, error, timeout.aborted ? timeoutMs : undefined);
  }
  const body = await response.text();
  if (response.status === 403) {
    throw new CallerError(
      "webhook-refused",
      request.authToken
        ? `the server refused the webhook's signature (403 from ${target}). The caller signed ${signedUrl} ` +
            "with its auth token; the server checks its own TWILIO_AUTH_TOKEN over its PUBLIC_URL. Make the " +
            "tokens match, and pass the server's PUBLIC_URL as the public URL if it differs from the server URL."
        : `the server wants a signed webhook (403 from ${target}): give the caller the server's ` +
            "TWILIO_AUTH_TOKEN (--auth-token, or the TWILIO_AUTH_TOKEN environment variable)",
    );
  }
  if (!response.ok) {
    throw new CallerError(
      "webhook-failed",
      `the webhook ${target} answered ${response.status}: ${body.slice(0, 300).trim()}`,
    );
  }
  return { status: response.status, body };
}

/** `base` (which may carry a path prefix) followed by `path`. */
export function joinUrl(base: string, path: string): string {
  return `${base.replace(/\/+$/, "")}${path}`;
}

function unreachable(target: string, error: unknown, timedOutAfterMs: number | undefined): CallerError {
  if (timedOutAfterMs !== undefined) {
    return new CallerError(
      "webhook-failed",
      `the webhook ${target} did not answer within ${timedOutAfterMs} ms`,
      {
        cause: error,
      },
    );
  }
  const code = (error as { cause?: { code?: string } }).cause?.code;
  const why =
    code === "ECONNREFUSED"
      ? "connection refused"
      : code === "ENOTFOUND"
        ? "unknown host"
        : String((error as { cause?: unknown }).cause ?? error);
  return new CallerError(
    "server-unreachable",
    `no server answers at ${target} (${why}). Is it running (npm start)? Is --url right?`,
    { cause: error },
  );
}
