/**
 * The call's one STT session, as a child actor of the call: the caller's audio goes in through the audio inlet
 * and every recogniser event comes back as an `stt.*` event of the call. The call may ask it to `finalize`.
 */
import { fromCallback } from "xstate";
import type { AudioInlet } from "./audio-inlet.js";
import type { SttCallEvent } from "./call-types.js";
import { asEngineError } from "./engine-errors.js";
import type { SttEngine, SttEvent } from "./engines.js";

/** What the call asks of its STT child. */
export type SttRequest = { type: "finalize" };

/** The STT session for the whole call: audio in through the inlet, results out as events. */
export const sttActor = fromCallback<SttRequest, { callId: string; stt: SttEngine; inlet: AudioInlet }>(
  ({ input, sendBack, receive }) => {
    const send = (event: SttCallEvent) => sendBack(event);
    let session: ReturnType<SttEngine["open"]>;
    try {
      session = input.stt.open({ callId: input.callId, onEvent: (event) => send(toCallEvent(event)) });
    } catch (error) {
      send({ type: "stt.failed", error: asEngineError("stt", error) });
      return;
    }
    receive(() => session.finalize());
    const detach = input.inlet.attach(session);
    return () => {
      detach();
      // close() sends CloseStream and resolves when the engine let go; nobody needs to wait for that.
      session.close().catch(() => undefined);
    };
  },
);

function toCallEvent(event: SttEvent): SttCallEvent {
  return { ...event, type: `stt.${event.type}` } as SttCallEvent;
}
