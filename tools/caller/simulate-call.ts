/**
 * A phone call placed the way Twilio places it, without a phone: the voice webhook (form-encoded, signed when
 * the auth token is known), the TwiML's `<Connect><Stream>`, the media stream with `connected`, `start`, real-
 * time caller audio and mark echoes, `stop`, and afterwards the status callback. Usable in-process (tests,
 * the load generator) as well as from `npm run call`.
 */
import { FRAME_MS } from "../../src/audio/frames.js";
import type { CallEvent, CallResult } from "./call-result.js";
import type { CallerUtterance } from "./caller-audio.js";
import { CallerSession } from "./caller-session.js";
import { type CallerClock, realTimeClock } from "./clock.js";
import { CallerError } from "./errors.js";
import { TwilioStreamEncoder, twilioSid } from "./stream-messages.js";
import { openStreamSocket } from "./stream-socket.js";
import { parseConnectStreamTwiml } from "./twiml.js";
import { postTwilioWebhook } from "./webhook.js";

export interface SimulateCallOptions {
  /** Where the server listens, e.g. `http://localhost:8080`. */
  url: string;
  /** What the caller says, in order, each after the agent's answer to the one before. May be empty. */
  utterances: readonly CallerUtterance[];
  /** The base the server checks signatures against (its PUBLIC_URL). Default: `url`. */
  publicUrl?: string;
  /** The server's TWILIO_AUTH_TOKEN. When given, the webhook and the stream upgrade are signed. */
  authToken?: string;
  /** Default "+15555550123". */
  from?: string;
  /** Default "+15555550100". */
  to?: string;
  /** Default: a fresh `AC...` SID. */
  accountSid?: string;
  /** Default: a fresh `CA...` SID. */
  callSid?: string;
  /** Start the next utterance this many ms after the agent's answer started, talking over it. */
  bargeInAfterMs?: number;
  /** Hang up this many ms after `start`, whatever is happening (e.g. in the middle of an answer). */
  hangupAfterMs?: number;
  /** Wait for the agent's greeting before the first utterance. Default true. */
  waitForGreeting?: boolean;
  /** Go on (or hang up, after the last utterance) when the agent has not started answering by then. Default 10000. */
  replyTimeoutMs?: number;
  /** Silence after the agent's answer finished before the caller speaks again. Default 600. */
  pauseAfterReplyMs?: number;
  /** Read the server's transcript (`GET /calls`) just before hanging up. Default true. */
  fetchTranscript?: boolean;
  /** Bearer token for `GET /calls`, when the server protects it. */
  callsApiKey?: string;
  /** Post the status callback (`CallStatus=completed`) after the call, as Twilio does. Default true. */
  statusCallback?: boolean;
  /** Time source and frame pacing; `realTimeClock({ speed })` runs faster than real time. Default real time. */
  clock?: CallerClock;
  /** Aborting before the stream opens rejects; once it is open, it hangs up and resolves with what happened. */
  signal?: AbortSignal;
  /** Told of each event as it happens (for progress output). */
  onEvent?: (event: CallEvent) => void;
}

const DEFAULTS = {
  from: "+15555550123",
  to: "+15555550100",
  replyTimeoutMs: 10_000,
  pauseAfterReplyMs: 600,
};

export async function simulateCall(options: SimulateCallOptions): Promise<CallResult> {
  checkOptions(options);
  const publicUrl = options.publicUrl ?? options.url;
  const accountSid = options.accountSid ?? twilioSid("AC");
  const callSid = options.callSid ?? twilioSid("CA");
  const from = options.from ?? DEFAULTS.from;
  const to = options.to ?? DEFAULTS.to;
  const common = { serverUrl: options.url, publicUrl, authToken: options.authToken, signal: options.signal };

  const webhook = await postTwilioWebhook({
    ...common,
    path: "/twilio/voice",
    form: {
      AccountSid: accountSid,
      ApiVersion: "2010-04-01",
      CallSid: callSid,
      CallStatus: "ringing",
      Called: to,
      Caller: from,
      Direction: "inbound",
      From: from,
      FromCountry: "US",
      To: to,
      ToCountry: "US",
    },
  });
  const stream = parseConnectStreamTwiml(webhook.body);
  const socket = await openStreamSocket({
    twimlUrl: stream.url,
    serverUrl: options.url,
    authToken: options.authToken,
    signal: options.signal,
  });
  const encoder = new TwilioStreamEncoder(accountSid, callSid, twilioSid("MZ"));
  const outcome = await new CallerSession({
    socket,
    encoder,
    customParameters: stream.parameters,
    utterances: options.utterances,
    clock: options.clock ?? realTimeClock(),
    signal: options.signal,
    waitForGreeting: options.waitForGreeting ?? true,
    bargeInAfterMs: options.bargeInAfterMs,
    hangupAfterMs: options.hangupAfterMs,
    replyTimeoutMs: options.replyTimeoutMs ?? DEFAULTS.replyTimeoutMs,
    pauseAfterReplyMs: options.pauseAfterReplyMs ?? DEFAULTS.pauseAfterReplyMs,
    transcriptSource:
      options.fetchTranscript === false ? undefined : { serverUrl: options.url, apiKey: options.callsApiKey },
    onEvent: options.onEvent,
  }).run();

  if (options.statusCallback !== false && !options.signal?.aborted) {
    await postTwilioWebhook({
      ...common,
      path: "/twilio/status",
      timeoutMs: 2000,
      form: {
        AccountSid: accountSid,
        ApiVersion: "2010-04-01",
        CallSid: callSid,
        CallStatus: "completed",
        CallDuration: String(Math.max(1, Math.round(outcome.durationMs / 1000))),
        Direction: "inbound",
        From: from,
        To: to,
      },
    }).catch(() => {
      // Twilio does not retry a failed status callback either; the call itself already happened.
    });
  }

  return { accountSid, callSid, streamSid: encoder.streamSid, stream, ...outcome };
}

function checkOptions(options: SimulateCallOptions): void {
  let url: URL;
  try {
    url = new URL(options.url);
  } catch {
    throw new CallerError("bad-options", `the server URL ${JSON.stringify(options.url)} is not a URL`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new CallerError("bad-options", `the server URL must be http:// or https://, not ${options.url}`);
  }
  const nonNegative = {
    bargeInAfterMs: options.bargeInAfterMs,
    pauseAfterReplyMs: options.pauseAfterReplyMs,
  };
  for (const [name, value] of Object.entries(nonNegative)) {
    if (value !== undefined && !(value >= 0 && Number.isFinite(value))) {
      throw new CallerError("bad-options", `${name} must be a number of ms >= 0, got ${value}`);
    }
  }
  const positive = { hangupAfterMs: options.hangupAfterMs, replyTimeoutMs: options.replyTimeoutMs };
  for (const [name, value] of Object.entries(positive)) {
    if (value !== undefined && !(value >= FRAME_MS && Number.isFinite(value))) {
      throw new CallerError("bad-options", `${name} must be a number of ms >= ${FRAME_MS}, got ${value}`);
    }
  }
  options.utterances.forEach((utterance, index) => {
    if (utterance.mulaw.length === 0) {
      throw new CallerError("bad-audio", `utterance ${index + 1} (${utterance.name}) holds no audio`);
    }
  });
}
