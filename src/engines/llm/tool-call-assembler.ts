/**
 * Builds whole tool calls from the fragments an OpenAI-compatible server streams.
 *
 * Fragments are matched by `index`. Servers differ in what they repeat, as their real streams show (OpenAI's
 * and Qwen's are in fixtures/real/llm-sse; fixtures/real/SOURCES.md also names those read and not kept):
 * - OpenAI sends `id`, `type` and `name` once, with empty `arguments`, then only argument text;
 * - Qwen (DashScope) repeats `"id": ""` in later fragments, so only the first non-empty id counts;
 * - vLLM's first fragment may carry the name and no `arguments` key at all;
 * - Ollama sends a whole call in one fragment, and some versions send each call of a turn as index 0:
 *   a fragment with a new non-empty id at an index that already has an id therefore starts a new call;
 * - parallel calls interleave their fragments by index.
 */
import { randomUUID } from "node:crypto";
import type { ToolCall } from "../../../machines/engines.js";

/** One streamed fragment, as `choices[0].delta.tool_calls[i]` carries it. */
export interface ToolCallFragment {
  index?: number;
  id?: string | null;
  function?: { name?: string | null; arguments?: string | null } | null;
}

interface PartialCall {
  id: string;
  name: string;
  arguments: string;
}

export interface AssembledToolCalls {
  calls: ToolCall[];
  /** Calls that could not be used (no name), described for a log line. */
  dropped: string[];
}

export class ToolCallAssembler {
  /** In order of first appearance; `open` maps each index to the call its fragments currently extend. */
  private readonly calls: PartialCall[] = [];
  private readonly open = new Map<number, PartialCall>();

  add(fragments: readonly ToolCallFragment[]): void {
    fragments.forEach((fragment, position) => {
      const index = typeof fragment.index === "number" ? fragment.index : position;
      const id = fragment.id ?? "";
      let call = this.open.get(index);
      if (call === undefined || (id !== "" && call.id !== "" && id !== call.id)) {
        call = { id: "", name: "", arguments: "" };
        this.calls.push(call);
        this.open.set(index, call);
      }
      if (call.id === "" && id !== "") call.id = id;
      const name = fragment.function?.name;
      if (call.name === "" && name) call.name = name;
      const args = fragment.function?.arguments;
      if (args) call.arguments += args;
    });
  }

  get pending(): boolean {
    return this.calls.length > 0;
  }

  /** Hands out every call assembled so far and starts empty again. */
  take(): AssembledToolCalls {
    const calls: ToolCall[] = [];
    const dropped: string[] = [];
    for (const call of this.calls) {
      if (call.name === "") {
        dropped.push(
          `tool call ${call.id || "without id"} has no name (arguments ${JSON.stringify(call.arguments)})`,
        );
        continue;
      }
      calls.push({
        // Some servers send no id; the history needs one to pair the call with its result.
        id: call.id || `call_${randomUUID().replaceAll("-", "")}`,
        name: call.name,
        // A call without arguments (e.g. `end_call`) streams none; "{}" is what it means, and valid JSON.
        arguments: call.arguments === "" ? "{}" : call.arguments,
      });
    }
    this.calls.length = 0;
    this.open.clear();
    return { calls, dropped };
  }
}
