/**
 * The one interface every instrument (tape recorder, metrics, live-call list, Stately inspector) implements:
 * each sees every call through it, so none needs to know about the others, the route or the call factory.
 */
import type { InspectionEvent } from "xstate";
import type { CallActor, ReadableClock } from "../../machines/call-actor.js";
import type { CallConfig } from "../../machines/call-config.js";
import type { CallEngines } from "../../machines/call-types.js";
import type { Log } from "../logger.js";
import type { StreamStart } from "../twilio/media-stream-session.js";

/** What an instrument may do with one call. Every hook is optional. */
export interface CallInstrumentation {
  /** Wrap the call's engines (to record or time what goes through them); return them unchanged otherwise. */
  wrapEngines?(engines: CallEngines): CallEngines;
  /** Wrap the actor clock (to note when its timers were due); return it unchanged otherwise. */
  wrapClock?(clock: ReadableClock): ReadableClock;
  /** Sees every XState inspection event of the call actor and its children. */
  inspect?(event: InspectionEvent): void;
  /** The actor, once started: subscribe to its emitted events (`actor.on`) or snapshots. */
  started?(actor: CallActor): void;
  /** The call is over (the stream closed); flush what is buffered. Never throws. */
  ended?(): void;
}

export interface CallInstrument {
  attach(call: { start: StreamStart; config: CallConfig; log: Log }): CallInstrumentation;
}
