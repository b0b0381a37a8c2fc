/**
 * `LlmClient` for any OpenAI-compatible chat endpoint (vLLM, Ollama, llama.cpp server, OpenAI), through
 * the official `openai` SDK with streaming.
 *
 * What the SDK does not do for a phone call, and this adapter adds:
 * - an abort ends the SDK's `for await` quietly; here it throws `EngineError("llm", "aborted")`, so the
 *   reply actor can tell a cut-off reply from a finished one;
 * - thinking is switched off on the request in the server's own dialect (vLLM: Qwen3's
 *   `chat_template_kwargs`; Ollama: `reasoning_effort: "none"`), and any `<think>…</think>` text is stripped
 *   anyway; `reasoning_content` (vLLM) / `reasoning` (Ollama) deltas are never spoken;
 * - tool calls are assembled from their streamed fragments and yielded whole.
 *
 * How long a reply may take is the call's policy, not this adapter's: the call actor times the first token
 * and any silence on its own clock (`llmFirstTokenTimeoutMs`, `replySilenceTimeoutMs` in the call config)
 * and aborts the request through the signal it passes. Failures are thrown as classified EngineErrors and
 * logged once, by the call actor.
 */
import OpenAI from "openai";
import type {
  ChatCompletionChunk,
  ChatCompletionCreateParamsStreaming,
} from "openai/resources/chat/completions";
import {
  type ChatMessage,
  EngineError,
  type EngineErrorKind,
  type LlmChunk,
  type LlmClient,
  type ToolSpec,
} from "../../machines/engines.js";
import { messageOf } from "../error-message.js";
import { type EngineLogger, SILENT_LOGGER } from "./engine-logger.js";
import { toOpenAiMessages, toOpenAiTools } from "./llm/chat-messages.js";
import { createThinkStripper } from "./llm/think-stripper.js";
import { ToolCallAssembler } from "./llm/tool-call-assembler.js";

/**
 * Which server speaks the OpenAI API: each switches thinking off its own way and ignores the others' fields
 * at best (api.openai.com rejects unknown ones).
 */
export type LlmProvider = "vllm" | "ollama" | "openai";

export interface OpenAiLlmOptions {
  /** Default "vllm". */
  provider?: LlmProvider;
  /** The endpoint root including `/v1`, e.g. `http://localhost:8000/v1` (vLLM's default). */
  baseUrl: string;
  /** The served model name, e.g. `Qwen/Qwen3-8B`. */
  model: string;
  /** Sent as a Bearer token. Default "EMPTY", vLLM's placeholder for "no key". */
  apiKey?: string;
  /**
   * Whether a reasoning model may think first. Default false: thinking adds seconds of silence on a call.
   * vLLM gets `chat_template_kwargs: {enable_thinking}` (Qwen3's switch); Ollama gets
   * `reasoning_effort: "none"` when false and nothing when true; OpenAI gets neither. `<think>` text is
   * stripped from the reply whatever this says.
   */
  enableThinking?: boolean;
  /** Sampling temperature; the server's default when omitted (Ollama's `/v1` default is 1.0). */
  temperature?: number;
  /** `max_tokens` per reply; the server's default when omitted. */
  maxTokens?: number;
  /**
   * Retries the SDK makes on connection errors and 5xx before any output. Default 0: on a call a retry
   * doubles the silence, and the call actor has its own recovery (an apology).
   */
  maxRetries?: number;
  logger?: EngineLogger;
}

export const OPENAI_LLM_DEFAULTS = {
  apiKey: "EMPTY",
  enableThinking: false,
  maxRetries: 0,
} as const;

/** How long Ollama keeps the model after our last preload (renewed every periodic check). */
export const OLLAMA_PRELOAD_KEEP_ALIVE = "10m";
/**
 * How long the start-up (and periodic) check waits for `/models`. Probes run outside any call, so no call
 * actor's timer watches them: without this a hung server would hold the check forever.
 */
const PROBE_TIMEOUT_MS = 5000;
/** A cold load of a large model from a slow disk may take minutes; the check waits that long. */
const OLLAMA_PRELOAD_TIMEOUT_MS = 180_000;

export class OpenAiLlmClient implements LlmClient {
  readonly name = "openai-compatible";
  private readonly client: OpenAI;
  private readonly model: string;
  private readonly baseUrl: string;
  private readonly provider: LlmProvider;
  private readonly enableThinking: boolean;
  private readonly temperature: number | undefined;
  private readonly maxTokens: number | undefined;
  private readonly logger: EngineLogger;

  constructor(options: OpenAiLlmOptions) {
    this.baseUrl = validBaseUrl(options.baseUrl);
    if (options.model.trim() === "") throw new EngineError("llm", "connect", "LLM model name is empty");
    this.model = options.model;
    this.provider = options.provider ?? "vllm";
    this.enableThinking = options.enableThinking ?? OPENAI_LLM_DEFAULTS.enableThinking;
    this.temperature = options.temperature;
    this.maxTokens = options.maxTokens;
    this.logger = options.logger ?? SILENT_LOGGER;
    this.client = new OpenAI({
      baseURL: this.baseUrl,
      apiKey: options.apiKey || OPENAI_LLM_DEFAULTS.apiKey,
      maxRetries: options.maxRetries ?? OPENAI_LLM_DEFAULTS.maxRetries,
      // Set explicitly so the SDK does not pick them up from OPENAI_* environment variables.
      organization: null,
      project: null,
      // Failures are reported once, by the call actor, from the EngineError this adapter throws.
      logLevel: "off",
    });
  }

  /**
   * Start-up (and periodic) check: the server answers `/models` and serves the configured model. Throws an
   * EngineError naming what is wrong (unreachable, rejected key, unknown model). On Ollama it also loads the
   * model (see `preloadOllamaModel`), so the first caller does not wait for a cold load.
   */
  async probe(signal?: AbortSignal): Promise<void> {
    await this.checkServed(signal);
    if (this.provider === "ollama") await this.preloadOllamaModel(signal);
  }

  /**
   * Ollama loads a model on its first request (seconds to a minute for an 8B model from disk) and unloads it
   * after `keep_alive` idle (5 min by default, which `/v1` requests cannot change). Its native API loads a
   * model with an empty `POST /api/generate`; `keep_alive` then keeps it for OLLAMA_PRELOAD_KEEP_ALIVE. Asked
   * again by every periodic check (every 30 s), it stays loaded while this server runs, and is released
   * soon after it stops. Answered at once when the model is already loaded.
   */
  private async preloadOllamaModel(signal?: AbortSignal): Promise<void> {
    const url = new URL("api/generate", `${this.baseUrl.replace(/\/v1\/?$/, "")}/`);
    let response: Response;
    try {
      response = await fetch(url, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ model: this.model, keep_alive: OLLAMA_PRELOAD_KEEP_ALIVE, stream: false }),
        signal: AbortSignal.any([
          ...(signal ? [signal] : []),
          AbortSignal.timeout(OLLAMA_PRELOAD_TIMEOUT_MS),
        ]),
      });
      await response.arrayBuffer();
    } catch (error) {
      throw new EngineError(
        "llm",
        "connect",
        `Ollama at ${url.origin} did not load "${this.model}": ${messageOf(error)}`,
        {
          cause: error,
        },
      );
    }
    if (!response.ok) {
      throw new EngineError(
        "llm",
        "http",
        `Ollama at ${url.origin} could not load "${this.model}" (HTTP ${response.status} from ${url.pathname})`,
      );
    }
  }

  private async checkServed(signal?: AbortSignal): Promise<void> {
    let served: string[];
    try {
      const page = await this.client.models.list({
        signal: signal ?? null,
        timeout: PROBE_TIMEOUT_MS,
      });
      served = page.data.map((model) => model.id);
    } catch (error) {
      throw this.toEngineError(error, signal);
    }
    if (!served.includes(this.model)) {
      throw new EngineError(
        "llm",
        "connect",
        `LLM server at ${this.baseUrl} does not serve model "${this.model}" (it serves: ${served.join(", ") || "none"})`,
      );
    }
  }

  async *stream(request: {
    callId: string;
    messages: readonly ChatMessage[];
    tools: readonly ToolSpec[];
    signal: AbortSignal;
  }): AsyncGenerator<LlmChunk> {
    const { callId, signal } = request;
    if (signal.aborted) throw abortedError();

    // One controller for the HTTP request: the caller's abort (its timeouts included) and an early `break`
    // by the consumer both end the request through it, so the server sees the connection close.
    const controller = new AbortController();
    const forwardAbort = () => controller.abort();
    signal.addEventListener("abort", forwardAbort, { once: true });

    const startedAt = performance.now();
    const stripper = createThinkStripper();
    const toolCalls = new ToolCallAssembler();
    let producedOutput = false;

    try {
      const stream = await this.client.chat.completions.create(this.requestBody(request), {
        signal: controller.signal,
      });
      for await (const chunk of stream) {
        const choice = chunk.choices.find((c) => c.index === 0);
        if (choice === undefined) continue; // the usage-only chunk (`choices: []`)
        const delta: ChatCompletionChunk.Choice.Delta = choice.delta ?? {};
        if (!producedOutput && hasModelOutput(delta)) {
          producedOutput = true;
          this.logger.debug(
            { callId, engine: "llm", firstTokenMs: Math.round(performance.now() - startedAt) },
            "llm first token",
          );
        }
        if (typeof delta.content === "string" && delta.content !== "") {
          const text = stripper.push(delta.content);
          if (text !== "") yield { type: "text", text };
        }
        if (delta.tool_calls) toolCalls.add(delta.tool_calls);
        if (choice.finish_reason) yield* this.takeToolCalls(toolCalls, callId);
      }
      // The SDK ends the iteration without an error when the request is aborted: a cut-off reply is no answer.
      if (signal.aborted) throw abortedError();
      const rest = stripper.flush();
      if (rest !== "") yield { type: "text", text: rest };
      yield* this.takeToolCalls(toolCalls, callId);
    } catch (error) {
      const engineError = this.toEngineError(error, signal);
      if (engineError.kind === "aborted") {
        const fields = { callId, engine: "llm", kind: engineError.kind, model: this.model };
        this.logger.debug(fields, "llm reply aborted");
      }
      throw engineError;
    } finally {
      signal.removeEventListener("abort", forwardAbort);
      // Closes the connection when the consumer stopped early (`break`); a no-op after a normal end.
      controller.abort();
    }
  }

  private requestBody(request: {
    messages: readonly ChatMessage[];
    tools: readonly ToolSpec[];
  }): ChatCompletionCreateParamsStreaming {
    const body: ChatCompletionCreateParamsStreaming & {
      chat_template_kwargs?: { enable_thinking: boolean };
      reasoning_effort?: "none";
    } = {
      model: this.model,
      messages: toOpenAiMessages(request.messages),
      stream: true,
    };
    if (request.tools.length > 0) {
      body.tools = toOpenAiTools(request.tools);
      body.tool_choice = "auto";
    }
    if (this.temperature !== undefined) body.temperature = this.temperature;
    if (this.maxTokens !== undefined) body.max_tokens = this.maxTokens;
    switch (this.provider) {
      case "vllm":
        // Not in OpenAI's schema; vLLM passes it to the chat template, which is how Qwen3 turns thinking off.
        body.chat_template_kwargs = { enable_thinking: this.enableThinking };
        break;
      case "ollama":
        // Ollama's /v1 maps reasoning_effort onto its `think` option; "none" (not in OpenAI's enum) turns it
        // off for qwen3, deepseek-r1, gpt-oss and the like, and non-thinking models ignore it.
        if (!this.enableThinking) body.reasoning_effort = "none";
        break;
      case "openai":
        break;
    }
    return body;
  }

  private *takeToolCalls(assembler: ToolCallAssembler, callId: string): Generator<LlmChunk> {
    if (!assembler.pending) return;
    const { calls, dropped } = assembler.take();
    for (const problem of dropped) this.logger.warn({ callId, engine: "llm" }, `llm ${problem}; ignored`);
    for (const call of calls) yield { type: "toolCall", call };
  }

  private toEngineError(error: unknown, signal?: AbortSignal): EngineError {
    if (error instanceof EngineError) return error;
    if (signal?.aborted) return abortedError();
    const [kind, message] = describeFailure(error, this.baseUrl);
    return new EngineError("llm", kind, message, { cause: error });
  }
}

function hasModelOutput(delta: ChatCompletionChunk.Choice.Delta): boolean {
  const extra = delta as { reasoning_content?: unknown; reasoning?: unknown };
  return (
    (typeof delta.content === "string" && delta.content !== "") ||
    (delta.tool_calls?.length ?? 0) > 0 ||
    (typeof extra.reasoning_content === "string" && extra.reasoning_content !== "") ||
    (typeof extra.reasoning === "string" && extra.reasoning !== "")
  );
}

function describeFailure(error: unknown, baseUrl: string): [EngineErrorKind, string] {
  if (error instanceof OpenAI.APIConnectionTimeoutError) {
    return ["timeout", `LLM request to ${baseUrl} timed out`];
  }
  if (error instanceof OpenAI.APIConnectionError) {
    const cause = error.cause instanceof Error ? `: ${error.cause.message}` : "";
    return ["connect", `cannot reach the LLM at ${baseUrl}${cause}`];
  }
  if (error instanceof OpenAI.APIError) {
    if (typeof error.status === "number") {
      return ["http", `LLM server answered HTTP ${error.status}: ${error.message}`];
    }
    return ["protocol", `LLM stream reported an error: ${error.message}`];
  }
  if (error instanceof SyntaxError) return ["protocol", `LLM stream sent invalid JSON: ${error.message}`];
  return ["unknown", `LLM request failed: ${error instanceof Error ? error.message : String(error)}`];
}

function abortedError(): EngineError {
  return new EngineError("llm", "aborted", "LLM reply aborted");
}

function validBaseUrl(baseUrl: string): string {
  let url: URL;
  try {
    url = new URL(baseUrl);
  } catch {
    throw new EngineError("llm", "connect", `LLM base URL is not a URL: "${baseUrl}"`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new EngineError("llm", "connect", `LLM base URL must be http(s), got "${url.protocol}"`);
  }
  return baseUrl.replace(/\/+$/, "");
}
