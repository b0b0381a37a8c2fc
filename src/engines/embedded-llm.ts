/**
 * `LlmClient` for a GGUF model run in this process by llama.cpp (`node-llama-cpp`): the embedded profile's
 * LLM, so a first start needs no LLM server at all.
 *
 * - One model and one context serve every call. The context holds `sequences` independent KV caches; a
 *   request takes a free one for the whole of its reply, and requests beyond that wait in a `ModelQueue`
 *   (bounded: one more is refused, and the call apologizes). Generation runs on llama.cpp's own threads, off
 *   the event loop; the audio path keeps its core because `threads` defaults to one fewer than the machine has.
 * - A call's next request goes back to the sequence its last one used when that one is free: the cache then
 *   already holds the system prompt and the turns so far, and only the new turn is evaluated.
 * - Aborting the signal stops llama.cpp between two tokens (barge-in stops the computation, not only the
 *   reading); the slot is released once it has stopped.
 * - Tools go through node-llama-cpp's function calling: the chat wrapper documents them in the prompt and
 *   grammar-constrains a call once the model starts one. Function calls are yielded whole, after any text.
 * - Thinking: node-llama-cpp reports a reasoning model's thoughts as segments, and `onTextChunk` carries only
 *   the main response, so thoughts are never spoken. Qwen3's thoughts are also discouraged in the prompt and
 *   given a budget of zero tokens, since each would be silence on the line.
 */
import { availableParallelism } from "node:os";
import type {
  ChatHistoryItem,
  ChatModelFunctions,
  Llama,
  LlamaContext,
  LlamaContextSequence,
  LlamaModel,
} from "node-llama-cpp";
import { EngineError, type LlmChunk, type LlmClient } from "../../machines/engines.js";
import { messageOf } from "../error-message.js";
import { type EngineLogger, SILENT_LOGGER } from "./engine-logger.js";
import { toLlamaFunctions, toLlamaHistory } from "./llm/llama-history.js";
import { ModelQueue } from "./model-queue.js";

/** One reply's generation on one sequence: what the client needs of node-llama-cpp's `LlamaChat`. */
export interface ReplyGenerator {
  generate(request: {
    history: ChatHistoryItem[];
    functions: ChatModelFunctions | undefined;
    maxTokens: number;
    signal: AbortSignal;
    onText: (text: string) => void;
    /** Each token generated (text, function call or thought alike): what the computation really did. */
    onTokens: (count: number) => void;
  }): Promise<{ functionCalls: readonly GeneratedFunctionCall[] }>;
}

export interface GeneratedFunctionCall {
  functionName: string;
  params: unknown;
}

export interface EmbeddedLlmClientOptions {
  /** One generator per context sequence: how many replies run at once. */
  generators: readonly ReplyGenerator[];
  /** Requests allowed to wait for a free sequence; one more is refused at once. */
  maxWaiting: number;
  /** Tokens per reply at most: a runaway model costs CPU every other call needs. */
  maxTokens: number;
}

interface Slot {
  generator: ReplyGenerator;
  lastCallId: string | undefined;
  busy: boolean;
}

export class EmbeddedLlmClient implements LlmClient {
  readonly name = "embedded";
  private readonly slots: Slot[];
  private readonly queue: ModelQueue;
  private requests = 0;
  private tokens = 0;

  constructor(private readonly options: EmbeddedLlmClientOptions) {
    if (options.generators.length === 0) throw new RangeError("the embedded LLM needs at least one sequence");
    this.slots = options.generators.map((generator) => ({ generator, lastCallId: undefined, busy: false }));
    this.queue = new ModelQueue({
      engine: "llm",
      label: "embedded LLM",
      maxRunning: this.slots.length,
      maxWaiting: options.maxWaiting,
    });
  }

  /** Requests waiting for a free sequence now (the `officero_llm_queue_waiting` gauge reads it). */
  get waiting(): number {
    return this.queue.waiting;
  }

  /** Tokens generated since the model loaded, for every call: tokens per second in the bench. */
  get generatedTokens(): number {
    return this.tokens;
  }

  /** Replies being generated now. */
  get running(): number {
    return this.queue.running;
  }

  async *stream(request: Parameters<LlmClient["stream"]>[0]): AsyncIterable<LlmChunk> {
    const requestNumber = ++this.requests;
    // Our own controller as well as the caller's: a consumer that stops reading (break, return) must stop
    // the computation too, and that shows here only as the stream being cancelled.
    const stop = new AbortController();
    const signal = AbortSignal.any([request.signal, stop.signal]);
    const chunks = new ReadableStream<LlmChunk>({
      start: (controller) => {
        const generation = this.queue.run(
          () => this.generate(request.callId, controller, signal, request, requestNumber),
          signal,
        );
        generation.then(
          () => controller.close(),
          (error: unknown) => controller.error(asEngineError(error, signal)),
        );
      },
      cancel: () => stop.abort(),
    });
    try {
      for await (const chunk of chunks) yield chunk;
    } finally {
      stop.abort();
    }
  }

  private async generate(
    callId: string,
    controller: ReadableStreamDefaultController<LlmChunk>,
    signal: AbortSignal,
    request: Parameters<LlmClient["stream"]>[0],
    requestNumber: number,
  ): Promise<void> {
    const slot = this.takeSlot(callId);
    try {
      const result = await slot.generator.generate({
        history: toLlamaHistory(request.messages),
        functions: toLlamaFunctions(request.tools),
        maxTokens: this.options.maxTokens,
        signal,
        onText: (text) => {
          if (text !== "" && !signal.aborted) controller.enqueue({ type: "text", text });
        },
        onTokens: (count) => {
          this.tokens += count;
        },
      });
      result.functionCalls.forEach((call, index) => {
        controller.enqueue({
          type: "toolCall",
          call: {
            id: `embedded-${requestNumber}-${index}`,
            name: call.functionName,
            arguments: JSON.stringify(call.params ?? {}),
          },
        });
      });
    } finally {
      slot.busy = false;
    }
  }

  /** A free slot, the one this call used last if it is free (its cache holds the call's history). */
  private takeSlot(callId: string): Slot {
    const free = this.slots.filter((slot) => !slot.busy);
    const slot = free.find((candidate) => candidate.lastCallId === callId) ?? free[0];
    // The queue runs at most as many tasks as there are slots, so one is always free here.
    if (!slot) throw new EngineError("llm", "unknown", "embedded LLM: no free sequence (queue out of step)");
    slot.busy = true;
    slot.lastCallId = callId;
    return slot;
  }
}

function asEngineError(error: unknown, signal: AbortSignal): EngineError {
  if (error instanceof EngineError) return error;
  if (signal.aborted)
    return new EngineError("llm", "aborted", "embedded LLM reply aborted", { cause: error });
  return new EngineError("llm", "unknown", `embedded LLM failed: ${messageOf(error)}`, { cause: error });
}

// ---------------------------------------------------------------------------------------------------------
// Loading the model
// ---------------------------------------------------------------------------------------------------------

export interface EmbeddedLlmLoadOptions {
  modelPath: string;
  /** Replies generated at once (context sequences). */
  sequences: number;
  /** Tokens of context per sequence. */
  contextSize: number;
  /** CPU threads llama.cpp uses; default one fewer than the machine has (at least 1). */
  threads?: number;
  /** "auto" uses a GPU when there is one (CUDA, Vulkan, Metal prebuilt binaries); false forces the CPU. */
  gpu?: "auto" | false;
  maxWaiting?: number;
  maxTokens?: number;
  logger?: EngineLogger;
}

export const EMBEDDED_LLM_DEFAULTS = {
  sequences: 2,
  contextSize: 4096,
  // A phone answer is one or two sentences; 300 tokens is a long paragraph and bounds a model that rambles.
  maxTokens: 300,
  maxWaiting: 8,
} as const;

export interface LoadedEmbeddedLlm {
  client: EmbeddedLlmClient;
  model: LlamaModel;
  /** The context's sequences, in the order of the client's slots (what each has evaluated: `contextTokens`). */
  sequences: readonly LlamaContextSequence[];
  /** Frees the model, the context and llama.cpp's threads. */
  dispose(): Promise<void>;
}

export async function loadEmbeddedLlm(options: EmbeddedLlmLoadOptions): Promise<LoadedEmbeddedLlm> {
  const logger = options.logger ?? SILENT_LOGGER;
  // Imported here so that a server configured for another LLM never loads llama.cpp's native binding.
  const { getLlama, LlamaChat, LlamaLogLevel, resolveChatWrapper } = await import("node-llama-cpp");
  let llama: Llama | undefined;
  let model: LlamaModel | undefined;
  let context: LlamaContext | undefined;
  try {
    // build "never": a missing prebuilt binary is an error to report, not a cmake run on a production box.
    llama = await getLlama({ gpu: options.gpu ?? "auto", build: "never", logLevel: LlamaLogLevel.error });
    model = await llama.loadModel({ modelPath: options.modelPath });
    context = await model.createContext({
      sequences: options.sequences,
      contextSize: options.contextSize,
      threads: options.threads ?? Math.max(1, availableParallelism() - 1),
    });
  } catch (error) {
    await context?.dispose();
    await model?.dispose();
    await llama?.dispose();
    throw new EngineError("llm", "connect", `cannot load ${options.modelPath}: ${messageOf(error)}`, {
      cause: error,
    });
  }
  const loadedModel = model;
  const chatWrapper = resolveChatWrapper(loadedModel, {
    customWrapperSettings: { qwen: { thoughts: "discourage" } },
  });
  const sequences: LlamaContextSequence[] = [];
  for (let index = 0; index < options.sequences; index++) sequences.push(context.getSequence());
  const generators = sequences.map((contextSequence): ReplyGenerator => {
    const chat = new LlamaChat({ contextSequence, chatWrapper });
    return {
      async generate({ history, functions, maxTokens, signal, onText, onTokens }) {
        const response = await chat.generateResponse(history, {
          ...(functions ? { functions } : {}),
          maxTokens,
          signal,
          onTextChunk: onText,
          onToken: (tokens) => onTokens(tokens.length),
          budgets: { thoughtTokens: 0 },
        });
        return { functionCalls: response.functionCalls ?? [] };
      },
    };
  });
  logger.info(
    {
      model: options.modelPath,
      gpu: llama.gpu || "none",
      sequences: options.sequences,
      contextSize: context.contextSize,
      chatWrapper: chatWrapper.wrapperName,
    },
    "embedded LLM loaded",
  );
  const client = new EmbeddedLlmClient({
    generators,
    maxWaiting: options.maxWaiting ?? EMBEDDED_LLM_DEFAULTS.maxWaiting,
    maxTokens: options.maxTokens ?? EMBEDDED_LLM_DEFAULTS.maxTokens,
  });
  const loaded = { llama, model: loadedModel, context };
  return {
    client,
    model: loadedModel,
    sequences,
    dispose: async () => {
      await loaded.context.dispose();
      await loaded.model.dispose();
      await loaded.llama.dispose();
    },
  };
}
