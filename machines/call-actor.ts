/**
 * How the server (and tape replay) runs a call: one actor per Twilio stream, on a clock the caller chooses.
 */
import { type Actor, type ActorOptions, createActor, type InspectionEvent, type Observer } from "xstate";
import { type AudioInlet, createAudioInlet } from "./audio-inlet.js";
import { callMachine } from "./call.machine.js";
import type { CallEvent, CallInput } from "./call-types.js";
import type { SttEngine, SttSession } from "./engines.js";

export type CallActor = Actor<typeof callMachine>;
/** XState's clock interface (`setTimeout`/`clearTimeout`); `SimulatedClock` implements it. */
export type CallClock = NonNullable<ActorOptions<typeof callMachine>["clock"]>;

/** A clock that can also say what time it is: for stamping emitted events and tape lines on the actor clock. */
export interface ReadableClock extends CallClock {
  now(): number;
}

/** Real time, in milliseconds from an arbitrary origin (monotonic). `SimulatedClock` is its replay twin. */
export const realClock: ReadableClock = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (id) => clearTimeout(id),
  now: () => performance.now(),
};

export interface CreateCallActorOptions extends Omit<CallInput, "audioInlet" | "now"> {
  /** Defaults to a fresh inlet; pass one to push audio before you hold the actor. */
  audioInlet?: AudioInlet;
  /**
   * The actor clock: every timer of the call runs on it, and the call reads the time from it. Defaults to the
   * real one; replay passes a simulated one.
   */
  clock?: ReadableClock;
  /** Sees every event, transition and child actor (the Stately inspector, a tape recorder). */
  inspect?: Observer<InspectionEvent> | ((event: InspectionEvent) => void);
}

/** Creates (does not start) the actor for one call. */
export function createCallActor(options: CreateCallActorOptions): {
  actor: CallActor;
  audioInlet: AudioInlet;
} {
  const { clock = realClock, inspect, audioInlet = createAudioInlet(), ...input } = options;
  const actor = createActor(callMachine, {
    input: { ...input, audioInlet, now: () => clock.now() },
    clock,
    ...(inspect ? { inspect } : {}),
  });
  return { actor, audioInlet };
}

/** What a Twilio `start` tells the call. */
export interface CallStart {
  callSid: string;
  streamSid: string;
  customParameters: Record<string, string>;
}

/**
 * A started call, shaped for the stream route: one method per inbound Twilio message. Audio goes straight to
 * the STT session (no statechart event per frame); everything else becomes one `CallEvent`.
 */
export interface CallSession {
  readonly actor: CallActor;
  onAudio(frame: Uint8Array): void;
  onMark(name: string): void;
  onDtmf(digit: string): void;
  onStop(): void;
  onClose(): void;
}

/** Creates and starts the actor, then hands it Twilio's `start` (so the greeting goes out at once). */
export function startCall(options: CreateCallActorOptions & { start: CallStart }): CallSession {
  const { start, engines, ...rest } = options;
  // XState does not stop the children of an actor that failed, so the STT session (a paid, limited
  // connection) is tracked here to be closed by hand if that ever happens.
  const sessions: SttSession[] = [];
  const stt: SttEngine = {
    name: engines.stt.name,
    speechStartIsReliable: engines.stt.speechStartIsReliable,
    open: (sttOptions) => {
      const session = engines.stt.open(sttOptions);
      sessions.push(session);
      return session;
    },
  };
  const { actor, audioInlet } = createCallActor({ ...rest, engines: { ...engines, stt } });
  // A bug in the call must end this call, not the process: without an error observer XState rethrows.
  actor.subscribe({
    error: (error) => {
      rest.log?.("error", "the call actor failed; ending its call", { callId: rest.callId, err: error });
      for (const session of sessions) session.close().catch(() => undefined);
      try {
        engines.telephony.closeStream();
      } catch {
        // The socket is already gone: nothing more to close.
      }
    },
  });
  actor.start();
  // Twilio's messages keep coming in until the socket closes; once the call is over they mean nothing.
  const send = (event: CallEvent) => {
    if (actor.getSnapshot().status === "active") actor.send(event);
  };
  send({ type: "twilio.start", ...start });
  return {
    actor,
    onAudio: (frame) => audioInlet.push(frame),
    onMark: (name) => send({ type: "twilio.mark", name }),
    onDtmf: (digit) => send({ type: "twilio.dtmf", digit }),
    onStop: () => send({ type: "twilio.stop" }),
    onClose: () => send({ type: "socket.closed" }),
  };
}
