/**
 * Maps the call's history (`ChatMessage`) and tools (`ToolSpec`) to OpenAI chat-completions parameters.
 */
import type {
  ChatCompletionFunctionTool,
  ChatCompletionMessageParam,
} from "openai/resources/chat/completions";
import type { ChatMessage, ToolSpec } from "../../../machines/engines.js";

/**
 * Appended to an assistant turn the caller cut off. History keeps only what playback marks prove was
 * heard, so without a note the model would take a half sentence for its whole answer and carry on as if
 * the caller had heard the rest. The note goes inside the assistant turn (rather than as an extra system
 * message) because several chat templates reject system messages after the first; it is bracketed so it
 * reads as an annotation, like the `[caller pressed 5]` notes of DTMF input.
 */
export const INTERRUPTED_NOTE = "[interrupted by the caller; they did not hear the rest of this reply]";
export const INTERRUPTED_BEFORE_ANY_WORD_NOTE =
  "[interrupted by the caller before they heard any of this reply]";

export function toOpenAiMessages(messages: readonly ChatMessage[]): ChatCompletionMessageParam[] {
  return messages.map(toOpenAiMessage);
}

function toOpenAiMessage(message: ChatMessage): ChatCompletionMessageParam {
  switch (message.role) {
    case "system":
    case "user":
      return { role: message.role, content: message.content };
    case "tool":
      return { role: "tool", tool_call_id: message.toolCallId, content: message.content };
    case "assistant": {
      const content = message.interrupted ? withInterruptedNote(message.content) : message.content;
      const toolCalls = message.toolCalls ?? [];
      if (toolCalls.length === 0) return { role: "assistant", content };
      return {
        role: "assistant",
        // OpenAI's schema wants null rather than "" next to tool calls.
        content: content === "" ? null : content,
        tool_calls: toolCalls.map((call) => ({
          id: call.id,
          type: "function",
          function: { name: call.name, arguments: call.arguments },
        })),
      };
    }
  }
}

/** An assistant turn's text as the model should read it: with the note when the caller cut it off. */
export function withInterruptedNote(heard: string): string {
  const text = heard.trimEnd();
  return text === "" ? INTERRUPTED_BEFORE_ANY_WORD_NOTE : `${text}… ${INTERRUPTED_NOTE}`;
}

export function toOpenAiTools(tools: readonly ToolSpec[]): ChatCompletionFunctionTool[] {
  return tools.map((tool) => ({
    type: "function",
    function: { name: tool.name, description: tool.description, parameters: tool.parameters },
  }));
}
