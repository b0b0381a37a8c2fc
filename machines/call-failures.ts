/**
 * How the call reports what went wrong: one log line and one `engineFailed` milestone per failure, whatever
 * failed (an engine's error event, a REST request's rejection, a timeout of the call's own, a broken socket).
 * The adapters classify their errors and log none of them: this is the one place a failure is written.
 */
import type { CallConfig } from "./call-config.js";
import type { CallContext, CallEmitted } from "./call-types.js";
import { asEngineError } from "./engine-errors.js";
import { EngineError } from "./engines.js";
import type { SpeechEvent } from "./speech.actor.js";

/** The call's own timeouts that count as an engine failing (the statechart's `after` delays). */
export type CallTimeout = "llmFirstToken" | "replySilence";

/** What a failed thing is, for `reportFailure`: an event that carries an error, or one of the call's timeouts. */
export function failureOf(config: CallConfig, event: { type: string }, timeout?: CallTimeout): EngineError {
  if (timeout === "llmFirstToken")
    return new EngineError("llm", "timeout", `no first token within ${config.llmFirstTokenTimeoutMs} ms`);
  if (timeout === "replySilence")
    return new EngineError("llm", "timeout", `the reply went silent for ${config.replySilenceTimeoutMs} ms`);
  // `stt.failed` and `speech.failed` carry an EngineError already; an invoked REST request's error event
  // carries whatever Twilio's client threw.
  return asEngineError("telephony", "error" in event ? event.error : event);
}

/** An engine failure as a log line (written when the action runs) and the event observers count. */
export function failureReport(context: CallContext, error: EngineError, during: string) {
  const { log } = context.deps;
  const details = { callId: context.callId, engine: error.engine, kind: error.kind, err: error };
  return {
    write: () => log?.("error", `${error.engine} failed while ${during}: ${error.message}`, details),
    event: {
      type: "engineFailed",
      engine: error.engine,
      kind: error.kind,
      message: error.message,
    } as const satisfies CallEmitted,
  };
}

/**
 * An outbound socket operation that cannot take the statechart down: a broken socket is logged, and the call
 * goes on until Twilio's `stop` or the socket's close event ends it.
 */
export function safely<T extends unknown[]>(
  context: CallContext,
  doing: string,
  operation: (...args: T) => void,
): (...args: T) => void {
  return (...args) => {
    try {
      operation(...args);
    } catch (error) {
      failureReport(context, asEngineError("telephony", error), doing).write();
    }
  };
}

/**
 * The TTS watchdog's error, built once per configuration. The watchdog is rearmed with every piece of audio (up
 * to 50 times a second per speaking call) and almost never fires, while constructing an Error captures a stack
 * trace: built per piece, that was ~6% of the server's CPU in `npm run bench`.
 */
const ttsTimeoutErrors = new WeakMap<CallConfig, EngineError>();

/** The watchdog's event: the current producer counts as failed if TTS owes audio this long. */
export function ttsTimeout(context: CallContext): SpeechEvent {
  let error = ttsTimeoutErrors.get(context.config);
  if (!error) {
    error = new EngineError("tts", "timeout", `no audio within ${context.config.ttsTimeoutMs} ms`);
    ttsTimeoutErrors.set(context.config, error);
  }
  return { type: "speech.failed", generation: context.generation, error };
}
