/**
 * Twilio Media Streams (bidirectional, `<Connect><Stream>`): a schema for every message Twilio sends and
 * builders for the only three messages we may send back (anything else is Twilio error 31924).
 *
 * Real traffic differs from the documentation's examples (two captured sessions, read but not kept for want
 * of a license: fixtures/real/SOURCES.md, "Found but NOT kept"): numbers arrive as strings, key order varies,
 * `connected.version` has been "0.2.0". So numeric fields accept both forms and nothing that does not matter
 * to us is validated strictly.
 */
import { z } from "zod";
import { isDtmfKey } from "../../machines/caller-speech.js";

/** Twilio's largest message is `start` with custom parameters; 64 KiB leaves a wide margin. */
export const MAX_INBOUND_MESSAGE_BYTES = 64 * 1024;

const numberish = z
  .union([z.number(), z.string().regex(/^-?\d+$/, "must be a whole number")])
  .transform(Number);

const connectedSchema = z.object({
  event: z.literal("connected"),
  protocol: z.string().optional(),
  version: z.string().optional(),
});

const startSchema = z.object({
  event: z.literal("start"),
  sequenceNumber: numberish.optional(),
  streamSid: z.string().min(1),
  start: z.object({
    streamSid: z.string().min(1).optional(),
    accountSid: z.string().optional(),
    callSid: z.string().min(1),
    tracks: z.array(z.string()).optional(),
    customParameters: z.record(z.string(), z.string()).default({}),
    mediaFormat: z
      .object({
        encoding: z.string(),
        sampleRate: numberish,
        channels: numberish,
      })
      .optional(),
  }),
});

/** Exported so a property test can hold `wellFormedMedia` (below) to it. */
export const mediaSchema = z.object({
  event: z.literal("media"),
  sequenceNumber: numberish.optional(),
  streamSid: z.string().optional(),
  media: z.object({
    track: z.string().optional(),
    chunk: numberish.optional(),
    timestamp: numberish.optional(),
    payload: z.string(),
  }),
});

const markSchema = z.object({
  event: z.literal("mark"),
  sequenceNumber: numberish.optional(),
  streamSid: z.string().optional(),
  mark: z.object({ name: z.string() }),
});

const dtmfSchema = z.object({
  event: z.literal("dtmf"),
  sequenceNumber: numberish.optional(),
  streamSid: z.string().optional(),
  dtmf: z.object({
    track: z.string().optional(),
    digit: z
      .string()
      .transform((digit) => digit.toUpperCase())
      .refine(isDtmfKey, "must be one DTMF digit (0-9, *, #, A-D)"),
  }),
});

const stopSchema = z.object({
  event: z.literal("stop"),
  sequenceNumber: numberish.optional(),
  streamSid: z.string().optional(),
  stop: z.object({ accountSid: z.string().optional(), callSid: z.string().optional() }).optional(),
});

const inboundSchema = z.discriminatedUnion("event", [
  connectedSchema,
  startSchema,
  mediaSchema,
  markSchema,
  dtmfSchema,
  stopSchema,
]);

export type InboundMessage = z.infer<typeof inboundSchema>;
export type StartMessage = z.infer<typeof startSchema>;
export type MediaMessage = z.infer<typeof mediaSchema>;

const KNOWN_EVENTS = new Set(["connected", "start", "media", "mark", "dtmf", "stop"]);

/** Why a message was dropped, as a small fixed set (a metric label); `reason` has the details. */
export type DropKind =
  | "oversized"
  | "invalid_json"
  | "unknown_event"
  | "malformed"
  | "bad_audio"
  | "out_of_order"
  | "binary";

export type ParseResult =
  | { ok: true; message: InboundMessage }
  | { ok: false; kind: DropKind; reason: string };

/** Parses one text frame from Twilio. Never throws: a bad frame gives a reason fit for a log line. */
export function parseInboundMessage(raw: string): ParseResult {
  if (raw.length > MAX_INBOUND_MESSAGE_BYTES) {
    return {
      ok: false,
      kind: "oversized",
      reason: `message of ${raw.length} bytes exceeds ${MAX_INBOUND_MESSAGE_BYTES}`,
    };
  }
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch (error) {
    return { ok: false, kind: "invalid_json", reason: `invalid JSON (${(error as Error).message})` };
  }
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    return { ok: false, kind: "invalid_json", reason: "message is not a JSON object" };
  }
  const event = (json as { event?: unknown }).event;
  if (typeof event !== "string" || !KNOWN_EVENTS.has(event)) {
    return { ok: false, kind: "unknown_event", reason: `unknown event ${JSON.stringify(event)}` };
  }
  if (event === "media") {
    const media = wellFormedMedia(json as Record<string, unknown>);
    if (media) return { ok: true, message: media };
  }
  const parsed = inboundSchema.safeParse(json);
  if (!parsed.success) {
    const first = parsed.error.issues[0];
    const where = first?.path.join(".") || "message";
    return {
      ok: false,
      kind: "malformed",
      reason: `malformed ${event} message: ${where} ${first?.message ?? "is invalid"}`,
    };
  }
  return { ok: true, message: parsed.data };
}

/**
 * `media` comes 50 times a second per call, so a well-formed one is checked by hand, field by field as
 * `mediaSchema` does, for about half of zod's cost (1.45 -> 0.83 µs a message). Anything else gives
 * `undefined` and goes through the schema, which stays the definition and the one that says what is wrong.
 * A property test holds the two to the same answers.
 */
function wellFormedMedia(json: Record<string, unknown>): MediaMessage | undefined {
  const { media, streamSid } = json;
  if (typeof media !== "object" || media === null || Array.isArray(media)) return undefined;
  const { track, chunk, timestamp, payload } = media as Record<string, unknown>;
  const sequenceNumber = optionalNumberish(json.sequenceNumber);
  const chunkNumber = optionalNumberish(chunk);
  const timestampNumber = optionalNumberish(timestamp);
  if (
    typeof payload !== "string" ||
    !isOptionalString(track) ||
    !isOptionalString(streamSid) ||
    sequenceNumber === null ||
    chunkNumber === null ||
    timestampNumber === null
  ) {
    return undefined;
  }
  return {
    event: "media",
    sequenceNumber,
    streamSid,
    media: { track, chunk: chunkNumber, timestamp: timestampNumber, payload },
  };
}

const WHOLE_NUMBER = /^-?\d+$/;

/** `numberish.optional()` by hand: the number, `undefined` when absent, `null` when invalid. */
function optionalNumberish(value: unknown): number | undefined | null {
  if (value === undefined) return undefined;
  if (typeof value === "number") return Number.isFinite(value) ? value : null;
  if (typeof value === "string" && WHOLE_NUMBER.test(value)) return Number(value);
  return null;
}

function isOptionalString(value: unknown): value is string | undefined {
  return value === undefined || typeof value === "string";
}

// Base64 of a 160-byte frame is 216 characters; allow any frame size up to 1 s of audio.
const MAX_MEDIA_PAYLOAD_CHARS = Math.ceil(8000 / 3) * 4;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/**
 * Decodes a media payload into `target` (reused across frames, so the audio path allocates nothing) and
 * returns the number of bytes written, or a reason when the payload is not strict base64. Node's decoder
 * silently skips invalid characters, so the check comes first.
 */
export function decodeMediaPayload(payload: string, target: Buffer): number | string {
  if (payload.length === 0) return "empty media payload";
  if (payload.length > MAX_MEDIA_PAYLOAD_CHARS || payload.length > Math.ceil(target.length / 3) * 4) {
    return `media payload of ${payload.length} characters is larger than 1 s of audio`;
  }
  if (!BASE64.test(payload)) return "media payload is not valid base64";
  return target.write(payload, "base64");
}

// ----------------------------------------------------------------------------------------------------------
// Outbound: `media`, `mark`, `clear`, nothing else. Built as strings: these go out 50 times a second per
// call, and a template is several times cheaper than JSON.stringify of a fresh object. The only
// interpolated values are a stream SID we validated and base64 or a mark name we escape.
// ----------------------------------------------------------------------------------------------------------

export function buildMediaMessage(streamSid: string, mulaw: Uint8Array): string {
  const payload = Buffer.from(mulaw.buffer, mulaw.byteOffset, mulaw.byteLength).toString("base64");
  return `{"event":"media","streamSid":${JSON.stringify(streamSid)},"media":{"payload":"${payload}"}}`;
}

export function buildMarkMessage(streamSid: string, name: string): string {
  return `{"event":"mark","streamSid":${JSON.stringify(streamSid)},"mark":{"name":${JSON.stringify(name)}}}`;
}

export function buildClearMessage(streamSid: string): string {
  return `{"event":"clear","streamSid":${JSON.stringify(streamSid)}}`;
}
