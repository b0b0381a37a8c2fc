/**
 * Deepgram live (`/v1/listen`) server messages -> `DeepgramEvent`, the same facts typed and with times on the
 * call's stream clock (`speech-turns.ts` then says what they mean for the caller's turn).
 *
 * Shapes per Deepgram's docs, checked against real captures (those kept are in fixtures/real/deepgram-live;
 * fixtures/real/SOURCES.md also names those read and not kept): `channel` is an object in `Results` but the
 * array `[0, 1]` in `SpeechStarted` and `UtteranceEnd`; finals with an empty transcript are normal; word and
 * result times count from the start of the audio on that connection. Only the fields the call needs are
 * validated, so extra or renamed fields elsewhere in a message do not break parsing.
 */
import { z } from "zod";

/** What a Deepgram message says, as Deepgram says it. Times in seconds from the start of the call's audio. */
export type DeepgramEvent =
  | {
      type: "results";
      /** The text of this result only (Deepgram results do not repeat earlier finals). */
      text: string;
      /** true: this stretch of audio will not be revised again. */
      isFinal: boolean;
      /** true: the endpointer decided the speaker paused (`speech_final`). */
      speechFinal: boolean;
      start: number;
      duration: number;
      confidence: number;
    }
  | { type: "speechStarted"; timestamp: number }
  | { type: "utteranceEnd"; lastWordEnd: number };

const ResultsMessage = z.object({
  type: z.literal("Results"),
  start: z.number(),
  duration: z.number(),
  is_final: z.boolean(),
  speech_final: z.boolean().optional(),
  channel: z.object({
    alternatives: z.array(z.object({ transcript: z.string(), confidence: z.number() })).min(1),
  }),
});

const SpeechStartedMessage = z.object({ type: z.literal("SpeechStarted"), timestamp: z.number() });

const UtteranceEndMessage = z.object({ type: z.literal("UtteranceEnd"), last_word_end: z.number() });

const MetadataMessage = z.object({
  type: z.literal("Metadata"),
  request_id: z.string().optional(),
  duration: z.number().optional(),
});

export type ParsedMessage =
  | { kind: "event"; event: DeepgramEvent }
  /** Valid but nothing for the call: an interim result with no words yet. */
  | { kind: "skip" }
  /** The summary Deepgram sends just before it closes after `CloseStream`. */
  | { kind: "metadata"; requestId: string | undefined; durationSeconds: number | undefined }
  /** A message type this adapter does not use (Deepgram may add some). */
  | { kind: "unknown"; type: string }
  /** Not a Deepgram message we can trust: dropped, and worth a log line. */
  | { kind: "invalid"; reason: string };

/**
 * @param message what the SDK delivered (parsed JSON, or the raw text when it was not JSON)
 * @param offsetSeconds where this connection's audio starts in the call's audio stream, so that times stay
 *   monotonic across reconnects (Deepgram restarts its clock at 0 on every connection)
 */
export function parseDeepgramMessage(message: unknown, offsetSeconds: number): ParsedMessage {
  if (typeof message !== "object" || message === null || Array.isArray(message)) {
    return { kind: "invalid", reason: `not a JSON object: ${preview(message)}` };
  }
  const type = (message as { type?: unknown }).type;
  switch (type) {
    case "Results": {
      const parsed = ResultsMessage.safeParse(message);
      if (!parsed.success) return invalid("Results", parsed.error);
      const result = parsed.data;
      const best = result.channel.alternatives[0] as { transcript: string; confidence: number };
      // Interims keep coming during silence, empty; finals stay even when empty, since they close a stretch.
      if (!result.is_final && best.transcript.trim() === "") return { kind: "skip" };
      return {
        kind: "event",
        event: {
          type: "results",
          text: best.transcript,
          isFinal: result.is_final,
          speechFinal: result.speech_final ?? false,
          start: shift(result.start, offsetSeconds),
          duration: result.duration,
          confidence: best.confidence,
        },
      };
    }
    case "SpeechStarted": {
      const parsed = SpeechStartedMessage.safeParse(message);
      if (!parsed.success) return invalid("SpeechStarted", parsed.error);
      return {
        kind: "event",
        event: { type: "speechStarted", timestamp: shift(parsed.data.timestamp, offsetSeconds) },
      };
    }
    case "UtteranceEnd": {
      const parsed = UtteranceEndMessage.safeParse(message);
      if (!parsed.success) return invalid("UtteranceEnd", parsed.error);
      return {
        kind: "event",
        event: { type: "utteranceEnd", lastWordEnd: shift(parsed.data.last_word_end, offsetSeconds) },
      };
    }
    case "Metadata": {
      const parsed = MetadataMessage.safeParse(message);
      if (!parsed.success) return invalid("Metadata", parsed.error);
      return { kind: "metadata", requestId: parsed.data.request_id, durationSeconds: parsed.data.duration };
    }
    default:
      if (typeof type === "string") return { kind: "unknown", type };
      return { kind: "invalid", reason: `message without a type: ${preview(message)}` };
  }
}

/** Adds the connection's offset, rounded to the millisecond so sums like 3.28000000002 stay readable. */
function shift(seconds: number, offsetSeconds: number): number {
  return Math.round((seconds + offsetSeconds) * 1000) / 1000;
}

function invalid(type: string, error: z.ZodError): ParsedMessage {
  const issues = error.issues.map((issue) => `${issue.path.join(".") || "(root)"}: ${issue.message}`);
  return { kind: "invalid", reason: `malformed ${type}: ${issues.join("; ")}` };
}

function preview(value: unknown): string {
  const text = typeof value === "string" ? value : JSON.stringify(value);
  return text === undefined ? String(value) : text.length > 120 ? `${text.slice(0, 120)}…` : text;
}
