/**
 * Real engine output from fixtures/real (see its SOURCES.md), turned into what the ports carry:
 * Deepgram `Results` as SttEvents, OpenAI SSE content deltas as the text chunks an LlmClient yields.
 */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { SttEvent } from "../../machines/engines.js";

const FIXTURES = fileURLToPath(new URL("../../fixtures/real/", import.meta.url));

interface DeepgramResults {
  type: "Results";
  start: number;
  duration: number;
  is_final: boolean;
  speech_final: boolean;
  channel: { alternatives: { transcript: string; confidence: number }[] };
}

/** A real Deepgram live `Results` message as the transcript event an STT adapter reports. */
export function deepgramResult(name: string): Extract<SttEvent, { type: "transcript" }> {
  const results = JSON.parse(readFileSync(`${FIXTURES}deepgram-live/${name}`, "utf8")) as DeepgramResults;
  const best = results.channel.alternatives[0];
  if (!best) throw new Error(`${name}: no alternative`);
  return {
    type: "transcript",
    text: best.transcript,
    isFinal: results.is_final,
    speechFinal: results.speech_final,
    start: results.start,
    duration: results.duration,
    confidence: best.confidence,
  };
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
