/**
 * The calls in progress, for `GET /calls`: an instrument that notes each call as it starts and forgets it when
 * its stream closes, and reads the current state (and the conversation so far) from the call actor when asked.
 * The transcript is what lets `npm run call` show what the server heard; `LOG_TRANSCRIPTS=false` leaves it
 * out here as it does from the logs.
 */
import type { CallActor } from "../../machines/call-actor.js";
import type { StreamStart } from "../twilio/media-stream-session.js";
import type { CallInstrument, CallInstrumentation } from "./call-instrument.js";
import { type TranscriptLine, transcriptOf } from "./call-summary.js";
import { statePath } from "./state-path.js";

export interface LiveCallView {
  callSid: string;
  streamSid: string;
  from: string | null;
  to: string | null;
  startedAt: string;
  durationSeconds: number;
  /** The call actor's status: `active` until it ends (`done`) or fails (`error`). */
  status: string;
  /** Where the statechart is, e.g. `active.listening.waiting`; `starting` before the actor runs. */
  state: string;
  /** Caller turns taken so far. */
  turn: number;
  /** The conversation so far, as in the call's summary; absent when transcripts are off. */
  transcript?: TranscriptLine[];
}

interface LiveCall {
  start: StreamStart;
  startedAt: number;
  actor: CallActor | undefined;
}

export class LiveCalls implements CallInstrument {
  private readonly calls = new Set<LiveCall>();

  private readonly now: () => number;
  private readonly transcripts: boolean;

  constructor(
    options: {
      /** Wall-clock milliseconds: the list is for people, not for measuring latency. */
      now?: () => number;
      /** Whether each call's words are listed (`LOG_TRANSCRIPTS`). Default true. */
      transcripts?: boolean;
    } = {},
  ) {
    this.now = options.now ?? Date.now;
    this.transcripts = options.transcripts ?? true;
  }

  attach({ start }: { start: StreamStart }): CallInstrumentation {
    const call: LiveCall = { start, startedAt: this.now(), actor: undefined };
    this.calls.add(call);
    return {
      started: (actor) => {
        call.actor = actor;
      },
      ended: () => {
        this.calls.delete(call);
      },
    };
  }

  list(): LiveCallView[] {
    const now = this.now();
    return [...this.calls].map(({ start, startedAt, actor }) => {
      const snapshot = actor?.getSnapshot();
      const view: LiveCallView = {
        callSid: start.callSid,
        streamSid: start.streamSid,
        from: start.from ?? null,
        to: start.to ?? null,
        startedAt: new Date(startedAt).toISOString(),
        durationSeconds: Math.round((now - startedAt) / 100) / 10,
        status: snapshot?.status ?? "starting",
        state: snapshot ? statePath(snapshot.value) : "starting",
        turn: snapshot?.context.turn ?? 0,
      };
      if (this.transcripts) {
        view.transcript = snapshot ? transcriptOf(snapshot.context.history, snapshot.context.answering) : [];
      }
      return view;
    });
  }
}
