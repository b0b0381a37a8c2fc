/**
 * Every way a simulated call can fail before or while it runs, as one error type with a stable code, so a
 * CLI can print the message alone and a test can assert the code.
 */

export type CallerErrorCode =
  /** Nothing answers at the server URL (not started, wrong port). */
  | "server-unreachable"
  /** The voice webhook was refused with 403: the signature does not match the server's token and URL. */
  | "webhook-refused"
  /** The voice webhook failed otherwise (4xx/5xx, timeout). */
  | "webhook-failed"
  /** The webhook answered, but not with `<Connect><Stream>` TwiML. */
  | "bad-twiml"
  /** The server refused the WebSocket upgrade (403 signature, 503 draining, ...). */
  | "stream-refused"
  /** The WebSocket could not be opened for another reason. */
  | "stream-failed"
  /** A caller audio file is missing, not a WAV file, or empty. */
  | "bad-audio"
  /** An option is out of range. */
  | "bad-options";

export class CallerError extends Error {
  override readonly name = "CallerError";

  constructor(
    readonly code: CallerErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
