/**
 * Real engine output from fixtures/real (see its SOURCES.md), turned into what the ports carry:
 * Deepgram `Results` as the SttEvents the adapter's real parsing and mapping make of them, OpenAI SSE
 * content deltas as the text chunks an LlmClient yields.
 */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { SttEvent } from "../../machines/engines.js";
import { parseDeepgramMessage } from "../../src/engines/deepgram/messages.js";
import { DeepgramSpeechTurns } from "../../src/engines/deepgram/speech-turns.js";

const FIXTURES = fileURLToPath(new URL("../../fixtures/real/", import.meta.url));

/** A real Deepgram live message, as the STT adapter reports it to the call (a new session's mapping). */
export function deepgramEvents(name: string): SttEvent[] {
  const message: unknown = JSON.parse(readFileSync(`${FIXTURES}deepgram-live/${name}`, "utf8"));
  const parsed = parseDeepgramMessage(message, 0);
  if (parsed.kind !== "event") throw new Error(`${name}: not a Deepgram event (${parsed.kind})`);
  const events: SttEvent[] = [];
  new DeepgramSpeechTurns((event) => events.push(event)).accept(parsed.event);
  return events;
}

/** The non-empty `delta.content` strings of a real OpenAI-compatible SSE stream, in order. */
export function sseTextDeltas(name: string): string[] {
  const deltas: string[] = [];
  for (const line of readFileSync(`${FIXTURES}llm-sse/${name}`, "utf8").split("\n")) {
    if (!line.startsWith("data: ") || line === "data: [DONE]") continue;
    const chunk = JSON.parse(line.slice("data: ".length)) as {
      choices: { delta?: { content?: string | null } }[];
    };
    const content = chunk.choices[0]?.delta?.content;
    if (content) deltas.push(content);
  }
  return deltas;
}
