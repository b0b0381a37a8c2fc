/**
 * The tools the LLM may call. The call actor carries them out itself (speak, wait for the mark, REST), so
 * their results never go back to the model: after either tool the conversation is over.
 */
import type { CallConfig } from "./call-config.js";
import type { ToolCall, ToolSpec } from "./engines.js";

export const END_CALL = "end_call";
export const TRANSFER_CALL = "transfer_call";

const noArguments = { type: "object", properties: {}, additionalProperties: false };

export const endCallTool: ToolSpec = {
  name: END_CALL,
  description:
    "Hang up the phone call. Use it when the caller says goodbye or has nothing more to ask. " +
    "A goodbye is spoken for you, so do not say goodbye yourself.",
  parameters: noArguments,
};

export const transferCallTool: ToolSpec = {
  name: TRANSFER_CALL,
  description:
    "Transfer the caller to a human colleague. Use it when the caller asks for a person or you cannot help. " +
    "A short hold message is spoken for you.",
  parameters: noArguments,
};

/** The tools offered in every LLM request of a call with this configuration. */
export function callTools(config: Pick<CallConfig, "transferNumber">): ToolSpec[] {
  return config.transferNumber === null ? [endCallTool] : [endCallTool, transferCallTool];
}

export type CallAction = "hangUp" | "transfer";

/**
 * What the reply's tool calls ask the call to do. Ending wins over transferring; a tool we did not offer
 * (the model made it up, or transfer is not configured) asks for nothing.
 */
export function requestedAction(calls: readonly ToolCall[], offered: readonly ToolSpec[]): CallAction | null {
  const names = new Set(
    calls.map((call) => call.name).filter((name) => offered.some((tool) => tool.name === name)),
  );
  if (names.has(END_CALL)) return "hangUp";
  if (names.has(TRANSFER_CALL)) return "transfer";
  return null;
}
