/**
 * The two REST actions a call actor may take (hang up, transfer), through the `twilio` library so the
 * request is exactly what Twilio's own SDK sends. `TWILIO_API_BASE_URL` re-targets every request (a mock
 * server in tests, a regional edge in production) by rewriting the URL's origin in the HTTP client: the
 * library itself only knows edges and regions of api.twilio.com.
 */
import twilio from "twilio";
import type { Log } from "../logger.js";
import { dialTwiml } from "./twiml.js";

export interface TwilioRest {
  hangUp(callSid: string): Promise<void>;
  transfer(callSid: string, to: string): Promise<void>;
}

export interface TwilioRestOptions {
  accountSid: string;
  authToken: string;
  apiBaseUrl: string;
  log: Log;
  /** Per-request timeout; a stuck REST call must not keep a finished call's actor alive. */
  timeoutMs?: number;
}

/** Twilio's codes for "this call is not in progress any more": the call already ended, nothing to do. */
const CALL_ALREADY_ENDED = new Set([20404, 21220]);

class RetargetedRequestClient extends twilio.RequestClient {
  constructor(
    private readonly baseUrl: URL,
    options: ConstructorParameters<typeof twilio.RequestClient>[0],
  ) {
    super(options);
  }

  override request<TData>(opts: Parameters<twilio.RequestClient["request"]>[0]) {
    if (opts.uri) {
      const original = new URL(opts.uri);
      const target = new URL(original.pathname + original.search, this.baseUrl);
      opts = { ...opts, uri: target.toString() };
    }
    return super.request<TData>(opts as Parameters<twilio.RequestClient["request"]>[0] & { data?: TData });
  }
}

export function createTwilioRest(options: TwilioRestOptions): TwilioRest {
  const timeout = options.timeoutMs ?? 10_000;
  const httpClient = new RetargetedRequestClient(new URL(options.apiBaseUrl), { timeout });
  const client = twilio(options.accountSid, options.authToken, { httpClient });

  const alreadyEnded = (error: unknown) =>
    typeof error === "object" &&
    error !== null &&
    ((error as { code?: number }).code !== undefined
      ? CALL_ALREADY_ENDED.has((error as { code: number }).code)
      : (error as { status?: number }).status === 404);

  return {
    async hangUp(callSid) {
      try {
        await client.calls(callSid).update({ status: "completed" });
        options.log.info({ callSid }, "hung up the call over Twilio REST");
      } catch (error) {
        if (alreadyEnded(error)) {
          options.log.info({ callSid }, "hang-up: the call had already ended");
          return;
        }
        throw error;
      }
    },
    async transfer(callSid, to) {
      await client.calls(callSid).update({ twiml: dialTwiml(to) });
      options.log.info({ callSid, to }, "transferred the call over Twilio REST");
    },
  };
}
