/**
 * Joins the stream route to the call statechart: one call actor per accepted stream, whose Telephony port
 * writes to that stream's socket and reaches Twilio's REST API for hang-up and transfer.
 *
 * Instruments (tape recording, metrics, the Stately inspector) attach here, each seeing every call through
 * the same small interface, so none of them needs to know about the others or about the route.
 */
import type { InspectionEvent } from "xstate";
import { type CallSession, realClock, startCall } from "../machines/call-actor.js";
import { type CallConfig, forRecogniser } from "../machines/call-config.js";
import type { CallEngines, CallLog } from "../machines/call-types.js";
import {
  EngineError,
  type LlmClient,
  type SttEngine,
  type Telephony,
  type TtsEngine,
} from "../machines/engines.js";
import type { PhraseCache } from "../machines/phrase-cache.js";
import type { Log } from "./logger.js";
import type { CallInstrument } from "./observability/call-instrument.js";
import type { CallFactory, StreamOutput } from "./twilio/media-stream-session.js";
import type { TwilioRest } from "./twilio/rest.js";

export interface CallFactoryOptions {
  engines: { stt: SttEngine; llm: LlmClient; tts: TtsEngine };
  phrases?: PhraseCache;
  config: CallConfig;
  /**
   * Absent without Twilio credentials: hang-up then closes the stream (Twilio ends a call whose
   * `<Connect><Stream>` ends with no TwiML after it) and transfer is impossible.
   */
  rest?: TwilioRest;
  instruments?: readonly CallInstrument[];
}

export function createCallFactory(options: CallFactoryOptions): CallFactory {
  const instruments = options.instruments ?? [];
  const config = forRecogniser(options.config, options.engines.stt);
  return (start, output, log) => {
    const attached = instruments.map((instrument) => instrument.attach({ start, config, log }));
    let engines: CallEngines = { ...options.engines, telephony: telephonyFor(output, options.rest, log) };
    for (const instrumentation of attached) engines = instrumentation.wrapEngines?.(engines) ?? engines;
    let clock = realClock;
    for (const instrumentation of attached) clock = instrumentation.wrapClock?.(clock) ?? clock;
    const inspectors = attached.flatMap((a) => (a.inspect ? [a.inspect.bind(a)] : []));

    const session = startCall({
      callId: start.callSid,
      engines,
      clock,
      config,
      phrases: options.phrases,
      log: callLog(log),
      ...(inspectors.length > 0
        ? {
            inspect: (event: InspectionEvent) => {
              for (const inspect of inspectors) isolatingInstrument(log, () => inspect(event));
            },
          }
        : {}),
      start: { callSid: start.callSid, streamSid: start.streamSid, customParameters: start.customParameters },
    });
    for (const instrumentation of attached)
      isolatingInstrument(log, () => instrumentation.started?.(session.actor));
    return withEndHook(session, () => {
      for (const instrumentation of attached) isolatingInstrument(log, () => instrumentation.ended?.());
    });
  };
}

function withEndHook(session: CallSession, ended: () => void): CallSession {
  return {
    actor: session.actor,
    onAudio: session.onAudio,
    onMark: session.onMark,
    onDtmf: session.onDtmf,
    onStop: session.onStop,
    onClose: () => {
      session.onClose();
      ended();
    },
  };
}

/** An instrument's failure is logged and never reaches the call. */
/** An instrument that throws is logged and left out of this step; the call it watches never notices. */
function isolatingInstrument(log: Log, action: () => void): void {
  try {
    action();
  } catch (error) {
    log.warn({ err: error }, "a call instrument failed; the call goes on");
  }
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
