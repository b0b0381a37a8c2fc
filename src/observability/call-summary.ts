/**
 * The record of one call, made at hang-up: how long, how many turns and interruptions, why it ended, where
 * the time went (the median of each latency stage) and what was said. Logged, and written beside the call's
 * tape when tapes are on.
 */
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { ChatMessage } from "../../machines/engines.js";
import { LATENCY_STAGES, type LatencyStage } from "../metrics.js";

export interface TranscriptLine {
  speaker: "caller" | "agent";
  text: string;
  /** The caller cut the agent off: `text` is what the playback marks prove was heard. */
  interrupted?: true;
}

export interface CallSummary {
  callSid: string;
  streamSid: string;
  /** Wall-clock start, for people; durations come from the call's clock. */
  startedAt: string;
  durationSeconds: number;
  /** The statechart's end reason, or `failed` when the call actor itself failed. */
  endReason: string;
  turns: number;
  interruptions: number;
  engineFailures: Array<{ engine: string; kind: string }>;
  /** Per latency stage that happened at least once: the median in milliseconds and how many samples. */
  latencyMs: Partial<Record<LatencyStage, { median: number; samples: number }>>;
  transcript: TranscriptLine[];
}

/**
 * The conversation as the caller experienced it: their words, and the agent's words the marks prove they
 * heard. Words the caller said last that were never answered audibly close the transcript.
 */
export function transcriptOf(history: readonly ChatMessage[], unanswered: string): TranscriptLine[] {
  const lines: TranscriptLine[] = [];
  for (const message of history) {
    if (message.role === "user") lines.push({ speaker: "caller", text: message.content });
    else if (message.role === "assistant" && message.content !== "") {
      lines.push(
        message.interrupted
          ? { speaker: "agent", text: message.content, interrupted: true }
          : { speaker: "agent", text: message.content },
      );
    }
  }
  if (unanswered !== "") lines.push({ speaker: "caller", text: unanswered });
  return lines;
}

export function median(values: readonly number[]): number | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  const upper = sorted[middle] as number;
  return sorted.length % 2 === 1 ? upper : ((sorted[middle - 1] as number) + upper) / 2;
}

export function latencyMedians(samples: Record<LatencyStage, readonly number[]>): CallSummary["latencyMs"] {
  const medians: CallSummary["latencyMs"] = {};
  for (const stage of LATENCY_STAGES) {
    const value = median(samples[stage]);
    if (value !== undefined) medians[stage] = { median: Math.round(value), samples: samples[stage].length };
  }
  return medians;
}

/** The summary as a log line carries it: the transcript only when transcripts may be logged. */
export function loggableSummary(summary: CallSummary, logTranscripts: boolean): Record<string, unknown> {
  if (logTranscripts) return { ...summary };
  const { transcript, ...rest } = summary;
  return { ...rest, transcriptLines: transcript.length };
}

/**
 * Writes `<dir>/<callSid>.summary.json`, beside the tape `<callSid>.jsonl`. A CallSid is `CA` and hex digits;
 * anything else in it is replaced so the name can never leave the directory.
 */
export async function writeSummary(dir: string, summary: CallSummary): Promise<string> {
  await mkdir(dir, { recursive: true });
  const path = join(dir, `${summary.callSid.replace(/[^A-Za-z0-9_-]/g, "_")}.summary.json`);
  await writeFile(path, `${JSON.stringify(summary, null, 2)}\n`);
  return path;
}
