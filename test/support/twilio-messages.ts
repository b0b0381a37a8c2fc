/**
 * Inbound Media Streams messages for tests, from the simulated caller's encoder (real traffic's shapes:
 * numbers as strings, 34-character SIDs, a first media timestamp that is not 0).
 */
import { TwilioStreamEncoder, twilioSid } from "../../tools/caller/stream-messages.js";

export const sid = twilioSid;

export class TwilioStreamScript extends TwilioStreamEncoder {
  constructor(callSid = twilioSid("CA"), streamSid = twilioSid("MZ")) {
    super(twilioSid("AC"), callSid, streamSid);
  }
}
