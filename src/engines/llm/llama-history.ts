/**
 * Maps the call's history (`ChatMessage`) and tools (`ToolSpec`) to node-llama-cpp's chat history and
 * function definitions, for the embedded LLM. The model's chat template is applied by node-llama-cpp's
 * chat wrapper, so this only says who said what.
 */
import type { ChatHistoryItem, ChatModelFunctions, ChatModelResponse, GbnfJsonSchema } from "node-llama-cpp";
import type { ChatMessage, ToolSpec } from "../../../machines/engines.js";
import { withInterruptedNote } from "./chat-messages.js";

/**
 * The history `LlamaChat.generateResponse` continues: it completes the last item, so an empty model response
 * is appended. Consecutive assistant and tool messages fold into one model response (node-llama-cpp keeps a
 * function call and its result together in the response that made it).
 */
export function toLlamaHistory(messages: readonly ChatMessage[]): ChatHistoryItem[] {
  const history: ChatHistoryItem[] = [];
  let response: ChatModelResponse | undefined;
  const openResponse = (): ChatModelResponse => {
    if (!response) {
      response = { type: "model", response: [] };
      history.push(response);
    }
    return response;
  };
  for (const message of messages) {
    switch (message.role) {
      case "system":
        response = undefined;
        history.push({ type: "system", text: message.content });
        break;
      case "user":
        response = undefined;
        history.push({ type: "user", text: message.content });
        break;
      case "assistant": {
        const target = openResponse();
        const text = message.interrupted ? withInterruptedNote(message.content) : message.content;
        if (text !== "") target.response.push(text);
        for (const call of message.toolCalls ?? []) {
          target.response.push({
            type: "functionCall",
            name: call.name,
            params: parseArguments(call.arguments),
            result: undefined,
          });
        }
        break;
      }
      case "tool": {
        // The result belongs to the last function call that has none yet.
        const target = openResponse();
        const pending = target.response.findLast(
          (item) => typeof item === "object" && item.type === "functionCall" && item.result === undefined,
        );
        if (pending && typeof pending === "object" && pending.type === "functionCall") {
          pending.result = message.content;
        }
        break;
      }
    }
  }
  // A history that ends on an assistant turn gets a fresh response rather than a continued one: the call
  // actor only asks after the caller (or a tool) spoke.
  const last = history.at(-1);
  if (last?.type !== "model" || last.response.length > 0) history.push({ type: "model", response: [] });
  return history;
}

/**
 * The tools as node-llama-cpp function definitions. The chat wrapper documents them in the prompt and, once
 * the model starts a call, constrains the arguments with a grammar built from `params`. The call tools take
 * no arguments, which node-llama-cpp expresses as no `params` at all.
 */
export function toLlamaFunctions(tools: readonly ToolSpec[]): ChatModelFunctions | undefined {
  if (tools.length === 0) return undefined;
  const functions: Record<string, ChatModelFunctions[string]> = {};
  for (const tool of tools) {
    functions[tool.name] = {
      description: tool.description,
      params: hasProperties(tool.parameters) ? (tool.parameters as GbnfJsonSchema) : undefined,
    };
  }
  return functions;
}

function hasProperties(schema: Record<string, unknown>): boolean {
  const properties = schema.properties;
  return typeof properties === "object" && properties !== null && Object.keys(properties).length > 0;
}

function parseArguments(raw: string): unknown {
  try {
    return JSON.parse(raw === "" ? "{}" : raw);
  } catch {
    // The model's own malformed arguments are history, not an error: keep them as text.
    return raw;
  }
}
