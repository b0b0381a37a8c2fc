/**
 * The call's REST requests to Twilio as promise actors: invoked by the state that needs them, so leaving the
 * state (the caller hung up meanwhile) leaves the answer unheard, and a failure is the state's `onError`.
 */
import { fromPromise } from "xstate";
import type { Telephony } from "./engines.js";

export const hangUpActor = fromPromise<void, { telephony: Telephony; callSid: string }>(({ input }) =>
  input.telephony.hangUp(input.callSid),
);

export const transferActor = fromPromise<void, { telephony: Telephony; callSid: string; to: string }>(
  ({ input }) => input.telephony.transfer(input.callSid, input.to),
);
