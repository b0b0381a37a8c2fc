/**
 * Compares what a replayed call did with what the recorded call did, and says where they first part ways in
 * words a person can act on: the outputs that still matched, what happened on the line just before, and the
 * recorded and replayed outputs from that point on.
 *
 * Two outputs match when they are the same kind with the same content (every field but the time) and they were
 * caused at the same time, within the tolerance. An output's cause time is when what made it happen happened:
 * the latest input before it, or the due time of the latest timer before it (tapes record a timer's due time
 * beside the time it fired). Neither depends on the host: replay feeds the inputs at their recorded times and
 * its timers fire at their due times, while a recorded output's own time also holds however long a busy host
 * took to get to it, tens or hundreds of milliseconds on a saturated machine. A changed turn-taking setting
 * moves a timer's due time, or the input an output waits for, and shows.
 */
import { isDeepStrictEqual } from "node:util";
import { isEnd, isInput, isOutput, type TapeEntry, type TapeOutput } from "./tape-format.js";

export type DivergenceKind = "different" | "timing" | "missing" | "extra";

export interface Divergence {
  kind: DivergenceKind;
  /** Position in the output sequences (0-based) where they part. */
  index: number;
  recorded: TapeOutput | undefined;
  replayed: TapeOutput | undefined;
  /** For "timing": how much later (negative: earlier) the replayed output was caused than the recorded one. */
  causedLaterMs?: number;
}

/** One output and the time it was caused at (see the header comment). */
export interface CausedOutput {
  output: TapeOutput;
  causedAt: number;
}

/** Every output of a tape (recorded or replayed), in order, with its cause time. */
export function causedOutputs(entries: readonly TapeEntry[]): CausedOutput[] {
  const caused: CausedOutput[] = [];
  let cause = 0;
  for (const entry of entries) {
    if (isInput(entry)) cause = Math.max(cause, entry.t);
    else if (isOutput(entry)) {
      if (entry.out === "timer") cause = Math.max(cause, entry.due ?? entry.t);
      caused.push({ output: entry, causedAt: cause });
    }
  }
  return caused;
}

export function findDivergence(
  recordedEntries: readonly TapeEntry[],
  replayedEntries: readonly TapeEntry[],
  toleranceMs: number,
): Divergence | undefined {
  const recorded = causedOutputs(recordedEntries);
  const replayed = causedOutputs(replayedEntries);
  const length = Math.max(recorded.length, replayed.length);
  for (let index = 0; index < length; index++) {
    const want = recorded[index];
    const got = replayed[index];
    const pair = { index, recorded: want?.output, replayed: got?.output };
    if (want === undefined) return { kind: "extra", ...pair };
    if (got === undefined) return { kind: "missing", ...pair };
    if (!sameContent(want.output, got.output)) return { kind: "different", ...pair };
    const causedLaterMs = got.causedAt - want.causedAt;
    if (Math.abs(causedLaterMs) > toleranceMs) return { kind: "timing", ...pair, causedLaterMs };
  }
  return undefined;
}

/** Same kind, same content: every field but the times (a timer's due time is compared as its cause time). */
function sameContent(a: TapeOutput, b: TapeOutput): boolean {
  return isDeepStrictEqual(withoutTimes(a), withoutTimes(b));
}

function withoutTimes(output: TapeOutput): Record<string, unknown> {
  const { t: _t, ...rest } = output;
  if (rest.out === "timer") {
    const { due: _due, ...timer } = rest;
    return timer;
  }
  return rest;
}

export interface DivergenceReportInput {
  source: string;
  divergence: Divergence;
  /** Every recorded entry (inputs and outputs), for the context before the divergence. */
  recordedEntries: readonly TapeEntry[];
  recordedOutputs: readonly TapeOutput[];
  replayedOutputs: readonly TapeOutput[];
  toleranceMs: number;
  /** Settings the replay changed, shown in the title. */
  overrides?: Record<string, unknown>;
}

const CONTEXT_BEFORE = 6;
const SHOWN_AFTER = 4;

/** The readable diff: title, context, then the recorded (-) and replayed (+) outputs from the divergence. */
export function formatDivergence(input: DivergenceReportInput): string {
  const { divergence, recordedOutputs, replayedOutputs } = input;
  const lines: string[] = [];
  const changed = Object.entries(input.overrides ?? {});
  lines.push(
    `✗ ${input.source}: the replay diverged at output ${divergence.index + 1} of ${recordedOutputs.length}` +
      (changed.length > 0
        ? ` (replayed with ${changed.map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(", ")})`
        : ""),
  );
  lines.push(`  ${explain(divergence, input.toleranceMs)}`);

  const context = contextBefore(input.recordedEntries, recordedOutputs, divergence.index);
  if (context.length > 0) {
    lines.push("  before it, recorded and replayed alike:");
    for (const entry of context) lines.push(`      ${formatEntry(entry)}`);
  }
  lines.push("  recorded:");
  const want = recordedOutputs.slice(divergence.index, divergence.index + SHOWN_AFTER);
  for (const entry of want) lines.push(`    - ${formatEntry(entry)}`);
  if (want.length === 0) lines.push("    - (nothing more: the recorded call was over)");
  lines.push("  replayed:");
  const got = replayedOutputs.slice(divergence.index, divergence.index + SHOWN_AFTER);
  for (const entry of got) lines.push(`    + ${formatEntry(entry)}`);
  if (got.length === 0) lines.push("    + (nothing more)");

  const { recorded, replayed } = divergence;
  if (divergence.kind === "different" && recorded?.out === "llm.request" && replayed?.out === "llm.request") {
    lines.push("  the LLM requests' messages:");
    lines.push(...messageDiff(recorded.messages, replayed.messages));
  }
  return lines.join("\n");
}

function explain(divergence: Divergence, toleranceMs: number): string {
  const { recorded, replayed } = divergence;
  switch (divergence.kind) {
    case "different":
      return `the replayed call did "${describe(replayed as TapeOutput)}" where the recording did "${describe(recorded as TapeOutput)}"`;
    case "timing": {
      const want = recorded as TapeOutput;
      const delta = divergence.causedLaterMs ?? (replayed as TapeOutput).t - want.t;
      return (
        `"${describe(want)}" happened ${Math.abs(delta).toFixed(1)} ms ${delta > 0 ? "later" : "earlier"} than recorded ` +
        `(tolerance ${toleranceMs} ms)`
      );
    }
    case "missing":
      return `the replayed call stopped short: the recording went on with "${describe(recorded as TapeOutput)}"`;
    case "extra":
      return `the replayed call did more than the recording: "${describe(replayed as TapeOutput)}"`;
  }
}

/** The recorded entries (inputs and outputs) just before the diverging output, the end line left out. */
function contextBefore(
  entries: readonly TapeEntry[],
  outputs: readonly TapeOutput[],
  index: number,
): TapeEntry[] {
  const diverging = outputs[index];
  let position = diverging === undefined ? entries.length : entries.indexOf(diverging);
  if (position < 0) position = entries.length;
  return entries.slice(Math.max(0, position - CONTEXT_BEFORE), position).filter((entry) => !isEnd(entry));
}

function messageDiff(recorded: readonly { role: string }[], replayed: readonly { role: string }[]): string[] {
  const lines: string[] = [];
  const length = Math.max(recorded.length, replayed.length);
  for (let i = 0; i < length; i++) {
    const want = recorded[i];
    const got = replayed[i];
    if (isDeepStrictEqual(want, got)) {
      lines.push(`      ${describeMessage(want)}`);
      continue;
    }
    if (want) lines.push(`    - ${describeMessage(want)}`);
    if (got) lines.push(`    + ${describeMessage(got)}`);
  }
  return lines;
}

function describeMessage(message: { role: string } | undefined): string {
  if (!message) return "";
  const { role, ...rest } = message as { role: string; content?: string };
  const content = typeof rest.content === "string" ? quote(rest.content, 90) : "";
  const extra = Object.entries(rest)
    .filter(([key]) => key !== "content")
    .map(([key, value]) => `${key}=${JSON.stringify(value)}`);
  return [role.padEnd(9), content, ...extra].join(" ").trimEnd();
}

/** One tape entry as a line: time, direction, what. */
export function formatEntry(entry: TapeEntry): string {
  const time = `${entry.t.toFixed(1).padStart(9)} ms`;
  if (isOutput(entry)) return `${time}  out  ${describe(entry)}`;
  if (isEnd(entry)) return `${time}  end  ${entry.end}`;
  return `${time}  in   ${describe(entry)}`;
}

/** What an entry says, without its time. */
export function describe(entry: TapeEntry): string {
  if (isEnd(entry)) return `end: ${entry.end}`;
  if (isOutput(entry)) {
    switch (entry.out) {
      case "state":
        return `state ${entry.value}`;
      case "timer":
        return `timer ${describeTimer(entry.event)}`;
      case "emit": {
        const { type, ...fields } = entry.event;
        return `emit ${type} ${JSON.stringify(fields)}`;
      }
      case "media":
        return `media ${audioSize(entry.bytes)} ${entry.sha}`;
      case "mark":
        return `mark ${entry.name}`;
      case "hangUp":
        return `hangUp #${entry.req} ${entry.callSid}`;
      case "transfer":
        return `transfer #${entry.req} ${entry.callSid} to ${entry.to}`;
      case "llm.request": {
        const last = entry.messages.at(-1);
        const said = last ? `, last ${last.role} ${"content" in last ? quote(last.content, 50) : ""}` : "";
        return `llm.request #${entry.req}: ${entry.messages.length} messages${said}`;
      }
      case "tts.request":
        return `tts.request #${entry.req} ${quote(entry.text, 60)}`;
      case "llm.abort":
      case "tts.abort":
        return `${entry.out} #${entry.req}`;
      default:
        return entry.out;
    }
  }
  switch (entry.in) {
    case "twilio.start":
      return `twilio.start ${entry.callSid} ${JSON.stringify(entry.customParameters)}`;
    case "twilio.mark":
      return `twilio.mark ${entry.name}`;
    case "twilio.dtmf":
      return `twilio.dtmf ${entry.digit}`;
    case "stt.speechStarted":
    case "stt.speechEnded":
      return `${entry.in} at ${entry.at} s`;
    case "stt.interim":
    case "stt.final":
      return `${entry.in} ${quote(entry.text, 60)} (${entry.start}-${entry.end} s)`;
    case "stt.failed":
    case "llm.error":
    case "tts.error":
    case "rest.error":
      return `${entry.in}${"req" in entry ? ` #${entry.req}` : ""} ${entry.error.kind}: ${entry.error.message}`;
    case "llm.text":
      return `llm.text #${entry.req} ${quote(entry.text, 60)}`;
    case "llm.toolCall":
      return `llm.toolCall #${entry.req} ${entry.call.name}(${entry.call.arguments})`;
    case "tts.audio":
      return `tts.audio #${entry.req} ${audioSize(entry.bytes)} ${entry.sha}`;
    case "llm.end":
    case "tts.end":
    case "rest.done":
      return `${entry.in} #${entry.req}`;
    case "audio.in":
      return `audio.in ${entry.frames} frames`;
    default:
      return entry.in;
  }
}

/** `xstate.after.idleReprompt.call.active.listening.waiting` → `idleReprompt (in active.listening.waiting)`. */
function describeTimer(event: string): string {
  const match = /^xstate\.after\.([^.]+)\.call\.(.+)$/.exec(event);
  if (match) return `${match[1]} (in ${match[2]})`;
  return event === "speech.failed" ? "TTS watchdog (speech.failed)" : event;
}

/** mu-law 8 kHz: 8 bytes a millisecond. */
function audioSize(bytes: number): string {
  return `${bytes} B (${Math.round(bytes / 8)} ms)`;
}

function quote(text: string, max: number): string {
  const shown = text.length > max ? `${text.slice(0, max - 1)}…` : text;
  return JSON.stringify(shown);
}
