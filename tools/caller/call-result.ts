/**
 * What a simulated call reports. Every time is milliseconds on the caller's clock since the caller sent
 * `start` (the call's time line); every `frame` is how many caller frames had been sent when the event
 * happened (an utterance that starts at frame 10 has frame 11 as its first), which tests use to check pacing
 * without reading a clock.
 */
import type { CallRecording } from "./call-recording.js";
import type { TranscriptLine } from "./server-transcript.js";

export interface TurnResult {
  /** The utterance's name (its file name). */
  utterance: string;
  /** When its first sample is on the line (its first frame goes out 20 ms later). */
  startedAt: number;
  /** When its last frame was sent; null when the call ended before it was all said. */
  speechEndedAt: number | null;
  /** True when the caller started talking while agent audio was still playing (barge-in). */
  overAgent: boolean;
  /**
   * First agent audio received after the utterance ended that answers it; null if none came before the next
   * turn. Audio whose mark names a caller turn the server had already answered (a reprompt to a caller it did
   * not hear) is not an answer.
   */
  firstAgentAudioAt: number | null;
  /** `firstAgentAudioAt - speechEndedAt`: the agent's response latency as the caller hears it. */
  latencyMs: number | null;
}

export interface CallCounts {
  framesSent: number;
  /** Media messages received from the server. */
  framesReceived: number;
  agentBytesReceived: number;
  /** Agent bytes that were played out (received minus those dropped by `clear` or by hanging up). */
  agentBytesPlayed: number;
  marksReceived: number;
  marksEchoed: number;
  clears: number;
  /** Messages Twilio would reject: unknown events, a wrong streamSid, bad JSON or base64. */
  protocolErrors: number;
}

export type CallEnd =
  | { by: "caller"; reason: "finished" | "hangup-timer" | "aborted" }
  | { by: "server"; code: number; reason: string };

export type CallEvent = { at: number; frame: number } & (
  | { type: "utterance-started"; utterance: number; overAgent: boolean }
  | { type: "utterance-ended"; utterance: number }
  /** Agent audio arrived while nothing was playing: the start of something the agent says. */
  | { type: "agent-audio-started" }
  | { type: "mark-received"; name: string; bufferedBytes: number }
  | { type: "mark-echoed"; name: string }
  | { type: "clear"; droppedBytes: number }
  | { type: "protocol-error"; reason: string }
  | { type: "hung-up"; reason: "finished" | "hangup-timer" | "aborted" }
  | { type: "server-closed"; code: number; reason: string }
);

/** What one call's session on the socket produced. */
export interface SessionOutcome {
  /** From `start` to the first agent audio; null when the agent did not speak first. */
  greetingLatencyMs: number | null;
  turns: TurnResult[];
  counts: CallCounts;
  /** Line time: caller frames sent x 20 ms (the length of the recording). */
  durationMs: number;
  ended: CallEnd;
  /** Both sides as heard on the line; `toStereoWav()` gives the file. */
  recording: CallRecording;
  /** The conversation as the server saw it, when it exposes one (`GET /calls`). */
  transcript?: TranscriptLine[];
  timeline: CallEvent[];
}

export interface CallResult extends SessionOutcome {
  accountSid: string;
  callSid: string;
  streamSid: string;
  /** The Stream URL and Parameters the webhook's TwiML gave. */
  stream: { url: string; parameters: Record<string, string> };
}
