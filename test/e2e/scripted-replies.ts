/** Fake LLM replies shaped like a real model's stream: the text in word-sized tokens. */
import type { FakeLlmReply } from "../fakes/fake-openai-llm.js";

/** `text` streamed one word (with its trailing space) per chunk. */
export function said(text: string): FakeLlmReply {
  return { type: "text", tokens: text.split(/(?<= )/) };
}

/** The model ends the call: the `end_call` tool, no words (the call speaks its own goodbye). */
export const endsCall: FakeLlmReply = { type: "toolCalls", calls: [{ name: "end_call", arguments: "{}" }] };

/** The chat server fails the request. */
export const serverError: FakeLlmReply = { type: "httpError", status: 500, message: "model overloaded" };
