/**
 * A fake OpenAI-compatible chat server (vLLM / Ollama / OpenAI shaped) for tests.
 *
 * `POST /v1/chat/completions` answers with `chat.completion.chunk` server-sent events, as the real servers
 * do with `stream: true`: one `data: {json}` event per chunk, a chunk with `finish_reason` and an empty
 * delta, then `data: [DONE]`. Replies are scripted per request (FIFO): text with an optional reasoning
 * preamble, tool calls in the styles of OpenAI, vLLM, Qwen (DashScope) and Ollama, an HTTP error, a stream
 * that stalls, or a recorded SSE body replayed byte for byte. Time to first token and token pace are
 * configurable. Every request is recorded (headers, parsed body, and whether the client hung up before the
 * reply ended) so tests can assert the history that was sent and that an abort reached the server.
 * `GET /v1/models` lists the served models.
 */
import { once } from "node:events";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { setTimeout as delay, setImmediate as nextTurn } from "node:timers/promises";

export interface FakeToolCall {
  name: string;
  /** The complete JSON argument string; streamed in small fragments. */
  arguments: string;
  id?: string;
}

export type FakeLlmReply =
  | {
      type: "text";
      /** Streamed one chunk per token, exactly as given. */
      tokens: readonly string[];
      /** Streamed first, in the delta field a thinking model uses, with `content: null`. */
      reasoning?: readonly string[];
      reasoningField?: "reasoning_content" | "reasoning";
    }
  | {
      type: "toolCalls";
      calls: readonly FakeToolCall[];
      /**
       * openai: id, type, name and `arguments: ""` first, then argument text only.
       * vllm: the first fragment has no `arguments` key; ids start with `chatcmpl-tool-`.
       * qwen: later fragments repeat `"id": ""`.
       * ollama: every call whole, in a single delta.
       */
      style?: "openai" | "vllm" | "qwen" | "ollama";
      /** Round-robin the fragments of parallel calls instead of sending one call after the other. */
      interleave?: boolean;
      /** Text tokens streamed before the calls (a model that talks, then calls a tool). */
      textBefore?: readonly string[];
    }
  | { type: "httpError"; status: number; message?: string }
  /** Sends headers and `tokensBeforeStall`, then nothing more until the client hangs up. */
  | { type: "stall"; tokensBeforeStall?: readonly string[] }
  /** A recorded SSE body, written verbatim in pieces of `pieceBytes` (default: whole events). */
  | { type: "sse"; body: string; pieceBytes?: number };

export interface FakeLlmTiming {
  /** Delay between the request and the first chunk. Default 0. */
  timeToFirstTokenMs?: number;
  /** Delay between chunks. Default 0. */
  tokenIntervalMs?: number;
}

export interface FakeOpenAiLlmOptions extends FakeLlmTiming {
  /** The model reported in chunks and by `/v1/models`. Default "Qwen/Qwen3-8B". */
  model?: string;
  /**
   * Answered when no scripted reply is queued, or a function of the request's parsed body that picks one;
   * without it such a request gets a 500 that says so.
   */
  defaultReply?: FakeLlmReply | ((body: unknown) => FakeLlmReply);
  /** Port to listen on (127.0.0.1). Default: any free port. */
  port?: number;
}

export interface RecordedLlmRequest {
  method: string;
  path: string;
  headers: IncomingMessage["headers"];
  /** The parsed JSON body (undefined for GET). */
  body: unknown;
  /** Resolves once the exchange is over: "completed" when the reply ended, "client-closed" if the client hung up first. */
  outcome: Promise<"completed" | "client-closed">;
}

export class FakeOpenAiLlm {
  readonly requests: RecordedLlmRequest[] = [];
  private readonly queue: { reply: FakeLlmReply; timing: FakeLlmTiming }[] = [];
  private readonly sockets = new Set<Socket>();
  private chunkSequence = 0;

  private constructor(
    private readonly server: Server,
    private readonly options: FakeOpenAiLlmOptions,
  ) {}

  static async start(options: FakeOpenAiLlmOptions = {}): Promise<FakeOpenAiLlm> {
    let fake: FakeOpenAiLlm | undefined;
    const server = createServer((req, res) => {
      void fake?.handle(req, res);
    });
    fake = new FakeOpenAiLlm(server, options);
    server.on("connection", (socket) => {
      fake?.sockets.add(socket);
      socket.on("close", () => fake?.sockets.delete(socket));
    });
    server.listen(options.port ?? 0, "127.0.0.1");
    await once(server, "listening");
    return fake;
  }

  /** `http://127.0.0.1:<port>/v1`, the value for the client's base URL. */
  get baseUrl(): string {
    const { port } = this.server.address() as AddressInfo;
    return `http://127.0.0.1:${port}/v1`;
  }

  get model(): string {
    return this.options.model ?? "Qwen/Qwen3-8B";
  }

  /** Queues replies for the next chat requests, in order. */
  enqueue(reply: FakeLlmReply, timing: FakeLlmTiming = {}): this {
    this.queue.push({ reply, timing });
    return this;
  }

  /** The parsed body of every chat-completions request so far. */
  get chatBodies(): Record<string, unknown>[] {
    return this.requests
      .filter((r) => r.path === "/v1/chat/completions")
      .map((r) => r.body as Record<string, unknown>);
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    this.server.close();
    await once(this.server, "close");
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const raw = await readBody(req);
    const path = (req.url ?? "/").split("?")[0] ?? "/";
    let clientClosed = false;
    const outcome = new Promise<"completed" | "client-closed">((resolve) => {
      res.on("close", () => {
        clientClosed = !res.writableFinished;
        resolve(clientClosed ? "client-closed" : "completed");
      });
    });
    let body: unknown;
    if (raw.length > 0) {
      try {
        body = JSON.parse(raw);
      } catch {
        body = raw;
      }
    }
    this.requests.push({ method: req.method ?? "", path, headers: req.headers, body, outcome });

    if (req.method === "GET" && path === "/v1/models") {
      return sendJson(res, 200, {
        object: "list",
        data: [{ id: this.model, object: "model", created: 0, owned_by: "fake" }],
      });
    }
    if (req.method === "POST" && path === "/api/generate") {
      // Ollama's native API: a request without a prompt loads the model and answers once it is loaded.
      const model = (body as { model?: unknown } | undefined)?.model;
      if (model !== this.model) {
        return sendJson(res, 404, { error: `model "${String(model)}" not found, try pulling it first` });
      }
      return sendJson(res, 200, {
        model,
        created_at: new Date(0).toISOString(),
        response: "",
        done: true,
        done_reason: "load",
      });
    }
    if (req.method !== "POST" || path !== "/v1/chat/completions") {
      return sendJson(res, 404, {
        error: { message: `fake LLM: no route ${req.method} ${path}`, type: "not_found" },
      });
    }
    const { defaultReply } = this.options;
    const fallback = typeof defaultReply === "function" ? defaultReply(body) : defaultReply;
    const next = this.queue.shift() ?? (fallback && { reply: fallback, timing: {} });
    if (!next) {
      return sendJson(res, 500, {
        error: { message: "fake LLM: no scripted reply queued", type: "internal_error" },
      });
    }
    const timing = {
      firstMs: next.timing.timeToFirstTokenMs ?? this.options.timeToFirstTokenMs ?? 0,
      paceMs: next.timing.tokenIntervalMs ?? this.options.tokenIntervalMs ?? 0,
    };
    await this.respond(next.reply, res, timing, () => clientClosed);
  }

  private async respond(
    reply: FakeLlmReply,
    res: ServerResponse,
    timing: { firstMs: number; paceMs: number },
    hungUp: () => boolean,
  ): Promise<void> {
    if (reply.type === "httpError") {
      return sendJson(res, reply.status, {
        error: {
          message: reply.message ?? `fake LLM failure ${reply.status}`,
          type: "internal_error",
          code: reply.status,
        },
      });
    }
    res.writeHead(200, {
      "content-type": "text/event-stream",
      "cache-control": "no-cache",
      connection: "keep-alive",
    });
    res.flushHeaders();
    const events = reply.type === "sse" ? splitRaw(reply.body, reply.pieceBytes) : this.events(reply);
    let first = true;
    for (const event of events) {
      const wait = first ? timing.firstMs : timing.paceMs;
      // Even without a pace, yield between writes so each piece leaves as its own TCP segment.
      await (wait > 0 ? delay(wait) : nextTurn());
      first = false;
      if (hungUp()) return;
      res.write(event);
    }
    if (reply.type === "stall") return; // the response stays open until the client gives up
    res.end();
  }

  private events(reply: Exclude<FakeLlmReply, { type: "httpError" } | { type: "sse" }>): string[] {
    const id = `chatcmpl-fake-${++this.chunkSequence}`;
    const chunk = (delta: Record<string, unknown>, finishReason: string | null = null) =>
      `data: ${JSON.stringify({
        id,
        object: "chat.completion.chunk",
        created: 1_700_000_000,
        model: this.model,
        choices: [{ index: 0, delta, logprobs: null, finish_reason: finishReason }],
      })}\n\n`;
    const done = "data: [DONE]\n\n";
    const opening = chunk({ role: "assistant", content: "" });
    switch (reply.type) {
      case "stall":
        return [opening, ...(reply.tokensBeforeStall ?? []).map((t) => chunk({ content: t }))];
      case "text": {
        const field = reply.reasoningField ?? "reasoning_content";
        return [
          opening,
          ...(reply.reasoning ?? []).map((t) => chunk({ content: null, [field]: t })),
          ...reply.tokens.map((t) => chunk({ content: t })),
          chunk({}, "stop"),
          done,
        ];
      }
      case "toolCalls":
        return [
          opening,
          ...(reply.textBefore ?? []).map((t) => chunk({ content: t })),
          ...toolCallDeltas(reply).map((toolCalls) => chunk({ tool_calls: toolCalls })),
          chunk({}, "tool_calls"),
          done,
        ];
    }
  }
}

/** One array of `tool_calls` fragments per chunk, in the given server's style. */
function toolCallDeltas(reply: Extract<FakeLlmReply, { type: "toolCalls" }>): Record<string, unknown>[][] {
  const style = reply.style ?? "openai";
  const idOf = (call: FakeToolCall, index: number) =>
    call.id ?? (style === "vllm" ? `chatcmpl-tool-${index}abc` : `call_${index}_fake`);
  if (style === "ollama") {
    return [
      reply.calls.map((call, index) => ({
        index,
        id: idOf(call, index),
        type: "function",
        function: { name: call.name, arguments: call.arguments },
      })),
    ];
  }
  const perCall = reply.calls.map((call, index) => {
    const head: Record<string, unknown> = {
      index,
      id: idOf(call, index),
      type: "function",
      function: style === "vllm" ? { name: call.name } : { name: call.name, arguments: "" },
    };
    const tail = fragments(call.arguments, 4).map((piece) =>
      style === "qwen"
        ? { index, id: "", type: "function", function: { arguments: piece } }
        : { index, function: { arguments: piece } },
    );
    return [head, ...tail];
  });
  if (!reply.interleave) return perCall.flat().map((fragment) => [fragment]);
  const rounds: Record<string, unknown>[][] = [];
  for (let round = 0; perCall.some((list) => round < list.length); round++) {
    for (const list of perCall) {
      const fragment = list[round];
      if (fragment) rounds.push([fragment]);
    }
  }
  return rounds;
}

function fragments(text: string, size: number): string[] {
  const pieces: string[] = [];
  for (let i = 0; i < text.length; i += size) pieces.push(text.slice(i, i + size));
  return pieces;
}

/** A recorded SSE body as whole events, or as fixed-size byte pieces that cut through events. */
function splitRaw(body: string, pieceBytes: number | undefined): (string | Buffer)[] {
  if (pieceBytes === undefined) return body.split(/(?<=\n\n)/);
  // Byte pieces may cut a UTF-8 character in two, as a TCP segment can: the client must cope.
  const bytes = Buffer.from(body);
  const pieces: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += pieceBytes) pieces.push(bytes.subarray(i, i + pieceBytes));
  return pieces;
}

/**
 * Frames a DashScope `.chunks.jsonl` capture (one chunk JSON per line, `data: ` and `[DONE]` removed) back
 * into the SSE body the server sent.
 */
export function sseFromChunksJsonl(jsonl: string): string {
  const lines = jsonl.split("\n").filter((line) => line.trim() !== "");
  return `${lines.map((line) => `data: ${line}\n\n`).join("")}data: [DONE]\n\n`;
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify(body));
}
