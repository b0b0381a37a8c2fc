/**
 * The call tape: one JSON object per line. The first line is the header (format, version, call id, the
 * behaviour-relevant CallConfig, engine names, the phrase cache as the call found it); every later line is one
 * thing that happened, stamped `t` in milliseconds on the actor clock since the call started:
 *
 * - `{"t", "in": …}`  an input that reached the call actor: a Twilio message, an STT result, an LLM chunk,
 *   a TTS audio piece, the end of a REST request. Replay feeds these back, at these times.
 * - `{"t", "out": …}` something the call actor did or decided: a state transition, a timer firing, an emitted
 *   milestone, outbound media (byte count and hash), a mark, a clear, an engine request, an abort, a REST
 *   action. Replay compares these with what the replayed actor does.
 * - `{"t", "end": …}` the call's stream closed; the tape is complete.
 *
 * Lines are appended as they happen, so a crash leaves a valid tape up to at most one truncated last line,
 * which `parseTape` tolerates. `fixtures/README.md` documents every line kind.
 */
import { z } from "zod";
import { type CallConfig, callConfig } from "../../machines/call-config.js";

export const TAPE_FORMAT = "officero-ear call tape";
/**
 * 2: STT inputs in the vendor-neutral vocabulary (speechStarted, interim, final, speechEnded), and
 * `speechEndTimeoutMs` / `bargeInSpeechMs` in place of `endOfTurnMaxWaitMs`. Version 1 tapes held Deepgram's
 * shapes, which the call no longer reads: re-record them.
 */
export const TAPE_VERSION = 2;

/** An engine failure as a tape stores it (an `EngineError` without its stack). */
const recordedError = z.object({
  engine: z.enum(["stt", "llm", "tts", "telephony"]),
  kind: z.enum(["connect", "timeout", "protocol", "http", "closed", "aborted", "unknown"]),
  message: z.string(),
});
export type RecordedError = z.infer<typeof recordedError>;

/** Audio as a tape stores it: its length, a short hash, and the bytes themselves only when asked for. */
const audioRef = z.object({
  bytes: z.number().int().nonnegative(),
  sha: z.string(),
  /** Base64 of the mu-law bytes; present only on tapes recorded with CALL_TAPES_AUDIO=true. */
  audio: z.string().optional(),
});
export type AudioRef = z.infer<typeof audioRef>;

/** Every CallConfig setting, each optional: an older tape lacks settings added since (defaults fill in). */
const recordedConfig = z.looseObject({
  systemPrompt: z.string().optional(),
  phrases: z
    .object({
      greeting: z.string().optional(),
      reprompt: z.string().optional(),
      goodbye: z.string().optional(),
      apology: z.string().optional(),
      transfer: z.string().optional(),
    })
    .optional(),
  transferNumber: z.string().nullable().optional(),
  speechEndTimeoutMs: z.number().optional(),
  dtmfEndOfTurnMs: z.number().optional(),
  bargeInMinWords: z.number().optional(),
  bargeInSpeechMs: z.number().nullable().optional(),
  backchannels: z.array(z.string()).readonly().optional(),
  idleRepromptMs: z.number().optional(),
  maxReprompts: z.number().optional(),
  maxCallDurationMs: z.number().optional(),
  llmFirstTokenTimeoutMs: z.number().optional(),
  ttsTimeoutMs: z.number().optional(),
  replySilenceTimeoutMs: z.number().optional(),
  farewellMarkTimeoutMs: z.number().optional(),
});

const headerSchema = z.object({
  format: z.literal(TAPE_FORMAT),
  version: z.literal(TAPE_VERSION),
  callId: z.string(),
  callSid: z.string(),
  streamSid: z.string(),
  /** Wall-clock time the call started (ISO 8601); for people, never used by replay. */
  recordedAt: z.string(),
  config: recordedConfig,
  engines: z.object({ stt: z.string(), llm: z.string(), tts: z.string() }),
  /** The prepared audio of each fixed phrase when the call started; null: not prepared (spoken live). */
  phrases: z.record(z.string(), audioRef.nullable()),
  /** Raw audio is on the tape (caller audio in `audio.in` lines, TTS audio in `tts.audio` lines). */
  audio: z.boolean(),
});
export type TapeHeader = z.infer<typeof headerSchema>;

const t = z.number().nonnegative();
const req = z.number().int().positive();
const chatMessage = z.union([
  z.object({ role: z.enum(["system", "user"]), content: z.string() }),
  z.object({
    role: z.literal("assistant"),
    content: z.string(),
    interrupted: z.boolean().optional(),
    toolCalls: z.array(z.object({ id: z.string(), name: z.string(), arguments: z.string() })).optional(),
  }),
  z.object({ role: z.literal("tool"), toolCallId: z.string(), content: z.string() }),
]);
const toolCall = z.object({ id: z.string(), name: z.string(), arguments: z.string() });

/** The words of an interim or final STT result, with the stream times (s) of the audio they cover. */
const words = z.object({ text: z.string(), start: z.number(), end: z.number(), confidence: z.number() });

const inputSchema = z.discriminatedUnion("in", [
  z.object({
    t,
    in: z.literal("twilio.start"),
    callSid: z.string(),
    streamSid: z.string(),
    customParameters: z.record(z.string(), z.string()),
  }),
  z.object({ t, in: z.literal("twilio.mark"), name: z.string() }),
  z.object({ t, in: z.literal("twilio.dtmf"), digit: z.string() }),
  z.object({ t, in: z.literal("twilio.stop") }),
  z.object({ t, in: z.literal("socket.closed") }),
  z.object({ t, in: z.literal("stt.speechStarted"), at: z.number() }),
  z.object({ t, in: z.literal("stt.interim"), ...words.shape }),
  z.object({ t, in: z.literal("stt.final"), ...words.shape }),
  z.object({ t, in: z.literal("stt.speechEnded"), at: z.number() }),
  z.object({ t, in: z.literal("stt.failed"), error: recordedError }),
  z.object({ t, in: z.literal("llm.text"), req, text: z.string() }),
  z.object({ t, in: z.literal("llm.toolCall"), req, call: toolCall }),
  z.object({ t, in: z.literal("llm.end"), req }),
  z.object({ t, in: z.literal("llm.error"), req, error: recordedError }),
  z.object({ t, in: z.literal("tts.audio"), req, ...audioRef.shape }),
  z.object({ t, in: z.literal("tts.end"), req }),
  z.object({ t, in: z.literal("tts.error"), req, error: recordedError }),
  z.object({ t, in: z.literal("rest.done"), req }),
  z.object({ t, in: z.literal("rest.error"), req, error: recordedError }),
  /** Caller audio, about a second per line; only with raw audio on. Replay does not need it (STT is on tape). */
  z.object({ t, in: z.literal("audio.in"), frames: z.number().int().nonnegative(), audio: z.string() }),
]);
export type TapeInput = z.infer<typeof inputSchema>;

const outputSchema = z.discriminatedUnion("out", [
  z.object({ t, out: z.literal("state"), value: z.string() }),
  /** A delayed event of the actor's own fired: `xstate.after.<delay>.<state>`, or the TTS watchdog. */
  z.object({
    t,
    out: z.literal("timer"),
    event: z.string(),
    /** When the timer was due (it fired at `t`, later by however busy the host was); absent on older tapes. */
    due: z.number().optional(),
  }),
  z.object({ t, out: z.literal("emit"), event: z.looseObject({ type: z.string() }) }),
  z.object({ t, out: z.literal("media"), bytes: z.number().int().nonnegative(), sha: z.string() }),
  z.object({ t, out: z.literal("mark"), name: z.string() }),
  z.object({ t, out: z.literal("clear") }),
  z.object({ t, out: z.literal("closeStream") }),
  z.object({ t, out: z.literal("hangUp"), req, callSid: z.string() }),
  z.object({ t, out: z.literal("transfer"), req, callSid: z.string(), to: z.string() }),
  z.object({ t, out: z.literal("stt.open") }),
  z.object({ t, out: z.literal("stt.finalize") }),
  z.object({ t, out: z.literal("stt.close") }),
  z.object({
    t,
    out: z.literal("llm.request"),
    req,
    messages: z.array(chatMessage),
    tools: z.array(z.string()),
  }),
  z.object({ t, out: z.literal("llm.abort"), req }),
  z.object({ t, out: z.literal("tts.request"), req, text: z.string() }),
  z.object({ t, out: z.literal("tts.abort"), req }),
]);
export type TapeOutput = z.infer<typeof outputSchema>;

const endSchema = z.object({
  t,
  end: z.string(),
  /** Caller frames the call received (audio is not on the tape unless asked for). */
  callerFrames: z.number().int().nonnegative(),
});
export type TapeEnd = z.infer<typeof endSchema>;

export type TapeEntry = TapeInput | TapeOutput | TapeEnd;

/** What a line is, without its time: what the recorder hands the sink. */
export type Untimed<T> = T extends unknown ? Omit<T, "t"> : never;

export interface Tape {
  /** Where it came from (a path), for messages. */
  source: string;
  header: TapeHeader;
  entries: TapeEntry[];
  /** The last line was cut short (the process died while writing it) and was left out. */
  truncated: boolean;
}

export class TapeFormatError extends Error {
  constructor(source: string, line: number | undefined, problem: string) {
    super(`${source}${line === undefined ? "" : `:${line}`}: ${problem}`);
    this.name = "TapeFormatError";
  }
}

export function isInput(entry: TapeEntry): entry is TapeInput {
  return "in" in entry;
}

export function isOutput(entry: TapeEntry): entry is TapeOutput {
  return "out" in entry;
}

/** Neither an input nor an output (an STT input's words also have an `end`: the time they end at). */
export function isEnd(entry: TapeEntry): entry is TapeEnd {
  return !("in" in entry) && !("out" in entry) && "end" in entry;
}

/** Reads a tape. Throws a `TapeFormatError` naming the line and what is wrong with it. */
export function parseTape(text: string, source = "tape"): Tape {
  const lines = text.split("\n");
  // A tape always ends with a newline; a last line without one is what a crash mid-write leaves.
  const partialLast = lines.at(-1) === "" ? undefined : lines.length;
  if (lines.at(-1) === "") lines.pop();
  if (lines.length === 0 || lines[0]?.trim() === "") throw new TapeFormatError(source, 1, "empty tape");

  const header = parseLine(lines[0] as string, 1, source, (json) => {
    if (typeof json === "object" && json !== null && "version" in json && json.version !== TAPE_VERSION) {
      return json.version === 1
        ? "tape format version 1 holds Deepgram-shaped STT results, which this build's call no longer reads (see TAPE_VERSION): record the call again"
        : `tape format version ${String(json.version)} is not supported (this build reads version ${TAPE_VERSION})`;
    }
    const parsed = headerSchema.safeParse(json);
    return parsed.success ? parsed.data : `not a tape header: ${describeIssues(parsed.error)}`;
  });

  const entries: TapeEntry[] = [];
  let truncated = false;
  for (let index = 1; index < lines.length; index++) {
    const lineNumber = index + 1;
    const line = lines[index] as string;
    if (line.trim() === "") continue;
    if (lineNumber === partialLast && !isJson(line)) {
      truncated = true;
      break;
    }
    entries.push(parseLine(line, lineNumber, source, parseEntry));
  }
  return { source, header, entries, truncated };
}

function parseEntry(json: unknown): TapeEntry | string {
  if (typeof json !== "object" || json === null) return "a tape line must be a JSON object";
  const schema = "in" in json ? inputSchema : "out" in json ? outputSchema : "end" in json ? endSchema : null;
  if (!schema) return 'a tape line needs "in", "out" or "end"';
  const parsed = schema.safeParse(json);
  return parsed.success ? parsed.data : describeIssues(parsed.error);
}

function parseLine<T>(
  line: string,
  lineNumber: number,
  source: string,
  read: (json: unknown) => T | string,
): T {
  let json: unknown;
  try {
    json = JSON.parse(line);
  } catch {
    throw new TapeFormatError(source, lineNumber, "not valid JSON");
  }
  const result = read(json);
  if (typeof result === "string") throw new TapeFormatError(source, lineNumber, result);
  return result;
}

function isJson(line: string): boolean {
  try {
    JSON.parse(line);
    return true;
  } catch {
    return false;
  }
}

function describeIssues(error: z.ZodError): string {
  return error.issues
    .slice(0, 3)
    .map((issue) => `${issue.path.length > 0 ? `${issue.path.join(".")}: ` : ""}${issue.message}`)
    .join("; ");
}

/**
 * The CallConfig a tape was recorded with, with `overrides` applied: settings the tape lacks (added to the
 * code after it was recorded) take today's defaults. Throws on settings the statechart cannot run with.
 */
export function tapeCallConfig(header: TapeHeader, overrides: Partial<CallConfig> = {}): CallConfig {
  const { phrases, ...rest } = header.config;
  const merged = { ...rest, ...overrides } as Partial<Omit<CallConfig, "phrases">>;
  return callConfig({ ...merged, phrases: { ...phrases, ...overrides.phrases } });
}

/** One tape line (newline included): the header, or an entry. */
export function formatTapeLine(entry: object): string {
  return `${JSON.stringify(entry)}\n`;
}
