/**
 * The caller's audio path into the call actor, kept out of the statechart: 50 frames a second would flood its
 * event log, its inspector and a tape, and none of them changes a decision. The stream route pushes frames
 * here; the actor's `stt` child attaches its STT session for the life of the call.
 */
import type { SttSession } from "./engines.js";

export interface AudioInlet {
  /**
   * One inbound frame of mulaw 8 kHz. Forwarded synchronously and never kept, so the route may reuse the buffer
   * as soon as this returns. Frames with no session attached (before the actor started or after the call
   * ended) are counted and dropped.
   */
  push(frame: Uint8Array): void;
  /** Routes frames to `session` until the returned function is called. One session at a time. */
  attach(session: SttSession): () => void;
  /** Frames pushed while no session was attached. */
  readonly droppedFrames: number;
}

export function createAudioInlet(): AudioInlet {
  let session: SttSession | undefined;
  let dropped = 0;
  return {
    push(frame) {
      if (session) session.sendAudio(frame);
      else dropped += 1;
    },
    attach(next) {
      if (session) throw new Error("audio inlet: an STT session is already attached");
      session = next;
      return () => {
        if (session === next) session = undefined;
      };
    },
    get droppedFrames() {
      return dropped;
    },
  };
}
