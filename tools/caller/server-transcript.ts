/**
 * The conversation as the server heard it, read from its `GET /calls` listing of active calls when it has
 * one. The listing's shape is the server's business, so this reads it leniently: an array of calls (or
 * `{calls: [...]}`), the entry whose call id matches, and its `transcript` (or `history`/`messages`) as lines
 * of text with a speaker. A server without the route, or a call not listed, gives `undefined`.
 */
import { joinUrl } from "./webhook.js";

export interface TranscriptLine {
  /** "caller" or "agent" (the LLM's "user" and "assistant"), or whatever the server calls the speaker. */
  speaker: string;
  text: string;
}

export async function fetchServerTranscript(options: {
  serverUrl: string;
  callSid: string;
  /** Sent as a Bearer token, for a server that protects its call listing. */
  apiKey?: string;
  timeoutMs?: number;
}): Promise<TranscriptLine[] | undefined> {
  try {
    const response = await fetch(joinUrl(options.serverUrl, "/calls"), {
      headers: options.apiKey ? { authorization: `Bearer ${options.apiKey}` } : {},
      signal: AbortSignal.timeout(options.timeoutMs ?? 1000),
    });
    if (!response.ok) return undefined;
    return transcriptOf(await response.json(), options.callSid);
  } catch {
    // Optional by design: the transcript is a courtesy, never a reason for the call to fail.
    return undefined;
  }
}

/** Finds the call `callSid` in a `/calls` listing and reads its transcript. */
export function transcriptOf(listing: unknown, callSid: string): TranscriptLine[] | undefined {
  const calls = Array.isArray(listing) ? listing : isRecord(listing) ? listing.calls : undefined;
  if (!Array.isArray(calls)) return undefined;
  const call = calls.find(
    (entry) =>
      isRecord(entry) && [entry.callSid, entry.callId, entry.sid, entry.id].some((id) => id === callSid),
  );
  if (!isRecord(call)) return undefined;
  const raw = call.transcript ?? call.history ?? call.messages;
  if (typeof raw === "string")
    return raw
      .split("\n")
      .filter(Boolean)
      .map((text) => ({ speaker: "", text }));
  if (!Array.isArray(raw)) return undefined;
  return raw.flatMap((item): TranscriptLine[] => {
    if (typeof item === "string") return [{ speaker: "", text: item }];
    if (!isRecord(item)) return [];
    const text = item.text ?? item.content;
    const speaker = String(item.speaker ?? item.role ?? "");
    if (typeof text !== "string" || speaker === "system") return [];
    return [{ speaker: SPEAKERS[speaker] ?? speaker, text }];
  });
}

const SPEAKERS: Record<string, string> = { user: "caller", assistant: "agent" };

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
