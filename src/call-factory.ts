/**
 * Joins the stream route to the call statechart: one call actor per accepted stream, whose Telephony port
 * writes to that stream's socket and reaches Twilio's REST API for hang-up and transfer.
 */

import type { CallLog } from "../machines/call.machine.js";
import { startCall } from "../machines/call-actor.js";
import type { CallConfig } from "../machines/call-config.js";
import {
  EngineError,
  type LlmClient,
  type SttEngine,
  type Telephony,
  type TtsEngine,
} from "../machines/engines.js";
import type { PhraseCache } from "../machines/phrase-cache.js";
import type { Log } from "./logger.js";
import type { CallFactory, StreamOutput } from "./twilio/media-stream-session.js";
import type { TwilioRest } from "./twilio/rest.js";

export interface CallFactoryOptions {
  engines: { stt: SttEngine; llm: LlmClient; tts: TtsEngine };
  phrases?: PhraseCache;
  config: CallConfig;
  /** Absent without Twilio credentials: hang-up then closes the stream (Twilio ends a call whose
   * `<Connect><Stream>` ends with no TwiML after it) and transfer is impossible. */
  rest?: TwilioRest;
}

export function createCallFactory(options: CallFactoryOptions): CallFactory {
  return (start, output, log) => {
    const session = startCall({
      callId: start.callSid,
      engines: { ...options.engines, telephony: telephonyFor(output, options.rest, log) },
      config: options.config,
      phrases: options.phrases,
      log: callLog(log),
      start: { callSid: start.callSid, streamSid: start.streamSid, customParameters: start.customParameters },
    });
    return session;
  };
}

function telephonyFor(output: StreamOutput, rest: TwilioRest | undefined, log: Log): Telephony {
  return {
    sendMedia: output.sendMedia,
    sendMark: output.sendMark,
    sendClear: output.sendClear,
    closeStream: output.close,
    async hangUp(callSid) {
      if (rest) return rest.hangUp(callSid);
      log.warn(
        "no Twilio REST credentials (TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN): ending the call by closing its stream",
      );
      output.close();
    },
    async transfer(callSid, to) {
      if (!rest) {
        throw new EngineError(
          "telephony",
          "connect",
          `cannot transfer ${callSid} to ${to}: TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN are needed for REST calls`,
        );
      }
      return rest.transfer(callSid, to);
    },
  };
}

/** The call actor logs through a plain function (machines import no logger); this maps it onto pino. */
function callLog(log: Log): CallLog {
  return (level, message, details) => log[level](details, message);
}
