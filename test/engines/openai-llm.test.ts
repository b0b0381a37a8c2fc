import { readFileSync } from "node:fs";
import { createServer } from "node:net";
import { setTimeout as delay, setImmediate as nextTurn } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import fc from "fast-check";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import {
  type ChatMessage,
  EngineError,
  type LlmChunk,
  type ToolCall,
  type ToolSpec,
} from "../../machines/engines.js";
import type { EngineLogger } from "../../src/engines/engine-logger.js";
import { INTERRUPTED_BEFORE_ANY_WORD_NOTE, INTERRUPTED_NOTE } from "../../src/engines/llm/chat-messages.js";
import { createThinkStripper } from "../../src/engines/llm/think-stripper.js";
import { ToolCallAssembler } from "../../src/engines/llm/tool-call-assembler.js";
import { OpenAiLlmClient, type OpenAiLlmOptions } from "../../src/engines/openai-llm.js";
import { FakeOpenAiLlm, sseFromChunksJsonl } from "../fakes/fake-openai-llm.js";

const SSE_DIR = fileURLToPath(new URL("../../fixtures/real/llm-sse/", import.meta.url));
const fixture = (name: string) => readFileSync(`${SSE_DIR}${name}`, "utf8");

const END_CALL: ToolSpec = {
  name: "end_call",
  description: "Say goodbye and hang up.",
  parameters: { type: "object", properties: {} },
};
const TRANSFER_CALL: ToolSpec = {
  name: "transfer_call",
  description: "Transfer the caller to a human.",
  parameters: { type: "object", properties: { reason: { type: "string" } }, required: ["reason"] },
};
const HISTORY: ChatMessage[] = [
  { role: "system", content: "You are a receptionist." },
  { role: "user", content: "Hi, can I book a cleaning?" },
];

interface LogLine {
  level: keyof EngineLogger;
  fields: object;
  message: string;
}
function recordingLogger(lines: LogLine[]): EngineLogger {
  const at = (level: keyof EngineLogger) => (fields: object, message: string) =>
    lines.push({ level, fields, message });
  return { debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") };
}

let fake: FakeOpenAiLlm;
let logs: LogLine[];

beforeEach(async () => {
  fake = await FakeOpenAiLlm.start();
  logs = [];
});
afterEach(async () => {
  vi.useRealTimers();
  await fake.close();
});

/**
 * Fakes only the client's clock: sockets, the fake server and `node:timers/promises` (which `until` uses to let
 * I/O happen) stay real.
 */
function useFakeDeadlines(): void {
  vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "performance"] });
}

/** Lets real I/O run until `predicate` holds (the test's timeout guards against it never holding). */
async function until(predicate: () => boolean): Promise<void> {
  while (!predicate()) await nextTurn();
}

function client(options: Partial<OpenAiLlmOptions> = {}): OpenAiLlmClient {
  return new OpenAiLlmClient({
    baseUrl: fake.baseUrl,
    model: fake.model,
    apiKey: "sk-test-secret",
    logger: recordingLogger(logs),
    ...options,
  });
}

async function collect(
  llm: OpenAiLlmClient,
  options: { messages?: ChatMessage[]; tools?: ToolSpec[]; signal?: AbortSignal } = {},
): Promise<LlmChunk[]> {
  const chunks: LlmChunk[] = [];
  for await (const chunk of llm.stream({
    callId: "CA-test",
    messages: options.messages ?? HISTORY,
    tools: options.tools ?? [],
    signal: options.signal ?? new AbortController().signal,
  })) {
    chunks.push(chunk);
  }
  return chunks;
}

const textOf = (chunks: readonly LlmChunk[]) => chunks.map((c) => (c.type === "text" ? c.text : "")).join("");
const callsOf = (chunks: readonly LlmChunk[]): ToolCall[] =>
  chunks.flatMap((c) => (c.type === "toolCall" ? [c.call] : []));

async function caught(promise: Promise<unknown>): Promise<EngineError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(error instanceof EngineError)) throw new Error(`expected an EngineError, got ${String(error)}`);
  return error;
}

/** The content deltas of a recorded stream, read straight from its JSON (the oracle for replays). */
function contentOfChunks(jsonPayloads: string[]): string {
  return jsonPayloads
    .map((payload) => JSON.parse(payload) as { choices: { delta?: { content?: string | null } }[] })
    .map((chunk) => chunk.choices[0]?.delta?.content ?? "")
    .join("");
}
const ssePayloads = (sse: string) =>
  sse
    .split("\n")
    .filter((line) => line.startsWith("data: ") && line !== "data: [DONE]")
    .map((line) => line.slice("data: ".length));

describe("OpenAiLlmClient request", () => {
  it("streams text and sends the history, tools, thinking off and the API key", async () => {
    fake.enqueue({ type: "text", tokens: ["Of", " course", ", what", " day?"] });
    const chunks = await collect(client(), { tools: [END_CALL, TRANSFER_CALL] });

    expect(textOf(chunks)).toBe("Of course, what day?");
    expect(chunks.length).toBeGreaterThan(1); // streamed, not buffered into one chunk
    const [body] = fake.chatBodies;
    expect(body).toMatchObject({
      model: fake.model,
      stream: true,
      chat_template_kwargs: { enable_thinking: false },
      tool_choice: "auto",
      messages: [
        { role: "system", content: "You are a receptionist." },
        { role: "user", content: "Hi, can I book a cleaning?" },
      ],
      tools: [
        { type: "function", function: { name: "end_call", parameters: END_CALL.parameters } },
        { type: "function", function: { name: "transfer_call", parameters: TRANSFER_CALL.parameters } },
      ],
    });
    expect(fake.requests[0]?.headers.authorization).toBe("Bearer sk-test-secret");
  });

  it("maps tool calls, tool results and interrupted turns into the OpenAI history", async () => {
    fake.enqueue({ type: "text", tokens: ["Done."] });
    const messages: ChatMessage[] = [
      ...HISTORY,
      { role: "assistant", content: "Sure, we have Monday at nine", interrupted: true },
      { role: "user", content: "Tuesday please." },
      {
        role: "assistant",
        content: "",
        toolCalls: [{ id: "call_1", name: "transfer_call", arguments: '{"reason":"booking"}' }],
      },
      { role: "tool", toolCallId: "call_1", content: '{"ok":false}' },
      { role: "assistant", content: "", interrupted: true },
      { role: "user", content: "[caller pressed 5]" },
    ];
    await collect(client(), { messages });

    expect(fake.chatBodies[0]?.messages).toEqual([
      { role: "system", content: "You are a receptionist." },
      { role: "user", content: "Hi, can I book a cleaning?" },
      { role: "assistant", content: `Sure, we have Monday at nine… ${INTERRUPTED_NOTE}` },
      { role: "user", content: "Tuesday please." },
      {
        role: "assistant",
        content: null,
        tool_calls: [
          {
            id: "call_1",
            type: "function",
            function: { name: "transfer_call", arguments: '{"reason":"booking"}' },
          },
        ],
      },
      { role: "tool", tool_call_id: "call_1", content: '{"ok":false}' },
      { role: "assistant", content: INTERRUPTED_BEFORE_ANY_WORD_NOTE },
      { role: "user", content: "[caller pressed 5]" },
    ]);
  });

  it("sends thinking on when asked, and no thinking switch at all to OpenAI", async () => {
    fake.enqueue({ type: "text", tokens: ["a"] }).enqueue({ type: "text", tokens: ["b"] });
    await collect(client({ enableThinking: true }));
    await collect(client({ provider: "openai", temperature: 0.3, maxTokens: 120 }));

    expect(fake.chatBodies[0]?.chat_template_kwargs).toEqual({ enable_thinking: true });
    expect(fake.chatBodies[0]).not.toHaveProperty("reasoning_effort");
    expect(fake.chatBodies[1]).not.toHaveProperty("chat_template_kwargs");
    expect(fake.chatBodies[1]).not.toHaveProperty("reasoning_effort");
    expect(fake.chatBodies[1]).toMatchObject({ temperature: 0.3, max_tokens: 120 });
    expect(fake.chatBodies[1]).not.toHaveProperty("tools");
  });

  it("turns Ollama's thinking off with reasoning_effort none, sends the temperature, speaks no reasoning", async () => {
    fake
      .enqueue({
        type: "text",
        reasoningField: "reasoning",
        reasoning: ["The caller", " wants"],
        tokens: ["Hi", "!"],
      })
      .enqueue({ type: "text", tokens: ["b"] });
    const chunks = await collect(client({ provider: "ollama", temperature: 0.7 }));
    await collect(client({ provider: "ollama", enableThinking: true, temperature: 0.7 }));

    expect(textOf(chunks)).toBe("Hi!");
    expect(fake.chatBodies[0]).toMatchObject({ reasoning_effort: "none", temperature: 0.7 });
    expect(fake.chatBodies[0]).not.toHaveProperty("chat_template_kwargs");
    expect(fake.chatBodies[1]).not.toHaveProperty("reasoning_effort");
  });
});

describe("OpenAiLlmClient abort", () => {
  it("throws an aborted EngineError mid-stream and the server sees the connection close", async () => {
    const tokens = Array.from({ length: 200 }, (_, i) => ` word${i}`);
    fake.enqueue({ type: "text", tokens }, { tokenIntervalMs: 5 });
    const controller = new AbortController();
    const received: string[] = [];
    const run = (async () => {
      for await (const chunk of client().stream({
        callId: "CA-test",
        messages: HISTORY,
        tools: [],
        signal: controller.signal,
      })) {
        if (chunk.type === "text") received.push(chunk.text);
        if (received.length === 3) controller.abort();
      }
    })();

    const error = await caught(run);
    expect(error.kind).toBe("aborted");
    expect(error.engine).toBe("llm");
    expect(received.join("")).toBe(" word0 word1 word2");
    expect(await fake.requests[0]?.outcome).toBe("client-closed");
    expect(logs.filter((l) => l.level === "error")).toEqual([]); // an abort is routine, not an error
  });

  it("throws aborted when aborted before the first token", async () => {
    fake.enqueue({ type: "stall" });
    const controller = new AbortController();
    const run = collect(client(), { signal: controller.signal });
    while (fake.requests.length === 0) await delay(5);
    controller.abort();

    expect((await caught(run)).kind).toBe("aborted");
    expect(await fake.requests[0]?.outcome).toBe("client-closed");
  });

  it("throws aborted at once for a signal that is already aborted, without a request", async () => {
    const error = await caught(collect(client(), { signal: AbortSignal.abort() }));
    expect(error.kind).toBe("aborted");
    expect(fake.requests).toHaveLength(0);
  });

  it("closes the connection when the consumer stops early", async () => {
    fake.enqueue(
      { type: "text", tokens: Array.from({ length: 100 }, () => " more") },
      { tokenIntervalMs: 5 },
    );
    for await (const chunk of client().stream({
      callId: "CA-test",
      messages: HISTORY,
      tools: [],
      signal: new AbortController().signal,
    })) {
      expect(chunk.type).toBe("text");
      break;
    }
    expect(await fake.requests[0]?.outcome).toBe("client-closed");
  });
});

describe("OpenAiLlmClient tool calls", () => {
  it("assembles a streamed call and yields it once, whole", async () => {
    fake.enqueue({
      type: "toolCalls",
      style: "openai",
      textBefore: ["One moment."],
      calls: [{ id: "call_abc", name: "transfer_call", arguments: '{"reason":"wants a human"}' }],
    });
    const chunks = await collect(client(), { tools: [TRANSFER_CALL] });

    expect(textOf(chunks)).toBe("One moment.");
    expect(callsOf(chunks)).toEqual([
      { id: "call_abc", name: "transfer_call", arguments: '{"reason":"wants a human"}' },
    ]);
    expect(chunks.at(-1)?.type).toBe("toolCall");
  });

  it.each(["openai", "vllm", "qwen", "ollama"] as const)(
    "assembles interleaved parallel calls (%s style)",
    async (style) => {
      fake.enqueue({
        type: "toolCalls",
        style,
        interleave: true,
        calls: [
          { name: "transfer_call", arguments: '{"reason":"billing question"}' },
          { name: "end_call", arguments: "{}" },
        ],
      });
      const calls = callsOf(await collect(client(), { tools: [END_CALL, TRANSFER_CALL] }));

      expect(calls.map((c) => [c.name, JSON.parse(c.arguments)])).toEqual([
        ["transfer_call", { reason: "billing question" }],
        ["end_call", {}],
      ]);
      // Qwen repeats `"id": ""` after the first fragment: the first id must survive.
      expect(calls.map((c) => c.id)).toEqual(
        style === "vllm" ? ["chatcmpl-tool-0abc", "chatcmpl-tool-1abc"] : ["call_0_fake", "call_1_fake"],
      );
    },
  );

  it("gives a call streamed without arguments the arguments {}", async () => {
    fake.enqueue({ type: "toolCalls", style: "vllm", calls: [{ name: "end_call", arguments: "" }] });
    expect(callsOf(await collect(client(), { tools: [END_CALL] }))).toEqual([
      { id: "chatcmpl-tool-0abc", name: "end_call", arguments: "{}" },
    ]);
  });
});

describe("OpenAiLlmClient reasoning", () => {
  it("never yields <think> text, even with the tags split across chunks", async () => {
    fake.enqueue({
      type: "text",
      tokens: [
        "<th",
        "ink>",
        "The caller wants",
        " a booking.",
        "</thi",
        "nk>",
        "\n\n",
        "Happy",
        " to help. <",
        "3",
      ],
    });
    const chunks = await collect(client());
    expect(textOf(chunks)).toBe("Happy to help. <3");
    for (const chunk of chunks)
      expect(chunk.type === "text" && /think|caller wants/.test(chunk.text)).toBe(false);
  });

  it.each(["reasoning_content", "reasoning"] as const)("ignores %s deltas", async (reasoningField) => {
    fake.enqueue({ type: "text", reasoningField, reasoning: ["Let me", " think."], tokens: ["Hello", "!"] });
    expect(textOf(await collect(client()))).toBe("Hello!");
  });
});

describe("OpenAiLlmClient replaying real streams", () => {
  it("OpenAI text stream (raw SSE, cut into 7-byte pieces)", async () => {
    const sse = fixture("openai-gpt-4o-text.sse");
    fake.enqueue({ type: "sse", body: sse, pieceBytes: 7 });
    const chunks = await collect(client());
    expect(textOf(chunks)).toBe(contentOfChunks(ssePayloads(sse)));
    expect(textOf(chunks)).toMatch(/^I'm unable to provide real-time weather updates\./);
  });

  it("OpenAI single tool call", async () => {
    fake.enqueue({ type: "sse", body: fixture("openai-gpt-4o-tool-call.sse") });
    const calls = callsOf(await collect(client()));
    expect(calls).toHaveLength(1);
    expect(calls[0]?.id).toBe("call_CTf1nWJLqSeRgDqaCG27xZ74");
    expect(calls[0]?.name).toBe("get_weather");
    expect(JSON.parse(calls[0]?.arguments ?? "")).toEqual({ city: "San Francisco", state: "CA" });
  });

  it("OpenAI parallel tool calls", async () => {
    fake.enqueue({ type: "sse", body: fixture("openai-gpt-4o-parallel-tool-calls.sse"), pieceBytes: 50 });
    const calls = callsOf(await collect(client()));
    expect(calls.map((c) => c.name)).toEqual(["GetWeatherArgs", "get_stock_price"]);
    expect(JSON.parse(calls[0]?.arguments ?? "")).toMatchObject({ city: "Edinburgh" });
    expect(JSON.parse(calls[1]?.arguments ?? "")).toMatchObject({ ticker: "AAPL" });
    expect(new Set(calls.map((c) => c.id)).size).toBe(2);
  });

  it("Qwen text stream (DashScope chunks framed as SSE)", async () => {
    const jsonl = fixture("dashscope-qwen3-max-text.chunks.jsonl");
    fake.enqueue({ type: "sse", body: sseFromChunksJsonl(jsonl), pieceBytes: 64 });
    const text = textOf(await collect(client()));
    expect(text).toBe(contentOfChunks(jsonl.split("\n")));
    expect(text.length).toBeGreaterThan(1000);
  });

  it("Qwen tool call keeps the id despite the later empty ids", async () => {
    fake.enqueue({
      type: "sse",
      body: sseFromChunksJsonl(fixture("dashscope-qwen3-max-tool-call.chunks.jsonl")),
    });
    const calls = callsOf(await collect(client()));
    expect(calls).toHaveLength(1);
    expect(calls[0]?.id).toBe("call_eee11723464a4b9eb8cee71d");
    expect(calls[0]?.name).toBe("weather");
    expect(JSON.parse(calls[0]?.arguments ?? "")).toEqual({ location: "San Francisco" });
  });

  it("Qwen reasoning stream yields only the answer", async () => {
    const jsonl = fixture("dashscope-qwen3-max-reasoning.chunks.jsonl");
    fake.enqueue({ type: "sse", body: sseFromChunksJsonl(jsonl), pieceBytes: 100 });
    const text = textOf(await collect(client()));
    expect(text).toBe(contentOfChunks(jsonl.split("\n")));
    expect(text).toMatch(/^The word \*\*"strawberry"\*\*/);
    expect(text).not.toContain("We are asked");
  });
});

describe("OpenAiLlmClient failures", () => {
  it("reports HTTP 500 as an http EngineError with the status, and logs no error line of its own", async () => {
    fake.enqueue({ type: "httpError", status: 500, message: "CUDA out of memory" });
    const error = await caught(collect(client()));

    expect(error.kind).toBe("http");
    expect(error.message).toMatch(/500/);
    expect(error.message).toMatch(/CUDA out of memory/);
    expect(fake.chatBodies).toHaveLength(1); // no retries by default
    // The call actor writes the failure's one line (test/machines/call.failures.test.ts).
    expect(logs.filter((l) => l.level === "error" || l.level === "warn")).toEqual([]);
  });

  // How long a reply may take is the call config's policy, timed by the call actor, which aborts the request.
  // The client's clock is vi's fake one (setTimeout and performance.now): a minute passes on it, and only the
  // abort ends the request.
  it.each([
    ["before the first token", []],
    ["after some text", ["Let me see"]],
  ])(
    "keeps waiting on a stalled stream %s until the caller aborts: no timer of its own",
    async (_, tokens) => {
      useFakeDeadlines();
      fake.enqueue({ type: "stall", tokensBeforeStall: tokens });
      const controller = new AbortController();
      const received: string[] = [];
      let settled = false;
      const run = caught(
        (async () => {
          for await (const chunk of client().stream({
            callId: "CA-test",
            messages: HISTORY,
            tools: [],
            signal: controller.signal,
          })) {
            if (chunk.type === "text") received.push(chunk.text);
          }
        })(),
      ).finally(() => {
        settled = true;
      });
      await until(() => fake.requests.length === 1 && received.length === tokens.length);
      await vi.advanceTimersByTimeAsync(60_000);
      await nextTurn();
      expect(settled).toBe(false);

      controller.abort();
      expect((await run).kind).toBe("aborted");
      expect(received).toEqual(tokens);
      expect(await fake.requests[0]?.outcome).toBe("client-closed");
    },
  );

  it("reports an unreachable server as a connect error", async () => {
    const port = await freePort();
    const error = await caught(collect(client({ baseUrl: `http://127.0.0.1:${port}/v1` })));
    expect(error.kind).toBe("connect");
    expect(error.message).toContain(`127.0.0.1:${port}`);
  });

  it("never puts the API key in the error the call actor logs, nor in a log line", async () => {
    fake.enqueue({ type: "httpError", status: 401, message: "bad key" });
    const error = await caught(collect(client()));
    expect(error.kind).toBe("http");
    const cause = error.cause instanceof Error ? `${error.cause.message} ${JSON.stringify(error.cause)}` : "";
    expect(`${error.message} ${cause} ${JSON.stringify(logs)}`).not.toContain("sk-test-secret");
  });

  it("rejects a base URL that is not http(s) at construction", () => {
    expect(() => client({ baseUrl: "localhost:8000" })).toThrow(/LLM base URL/);
    expect(() => client({ baseUrl: "ftp://host/v1" })).toThrow(/http/);
  });
});

describe("OpenAiLlmClient.probe", () => {
  it("passes when the server serves the model", async () => {
    await expect(client().probe()).resolves.toBeUndefined();
  });

  it("names the model when the server does not serve it", async () => {
    const error = await caught(client({ model: "llama3" }).probe());
    expect(error.message).toMatch(/"llama3"/);
    expect(error.message).toContain(fake.model);
  });

  it("loads the model on Ollama (empty /api/generate with a keep_alive), and only there", async () => {
    await client({ provider: "ollama" }).probe();
    await client({ provider: "vllm" }).probe();
    const preloads = fake.requests.filter((request) => request.path === "/api/generate");
    expect(preloads.map((request) => [request.method, request.body])).toEqual([
      ["POST", { model: fake.model, keep_alive: "10m", stream: false }],
    ]);
  });

  it("reports an unreachable server", async () => {
    const port = await freePort();
    expect((await caught(client({ baseUrl: `http://127.0.0.1:${port}/v1` }).probe())).kind).toBe("connect");
  });
});

describe("think stripper", () => {
  /** The same rules applied to the whole text at once, character by character. */
  function stripWhole(text: string): string {
    let out = "";
    let inside = false;
    let dropWhitespace = false;
    for (let i = 0; i < text.length; ) {
      if (!inside && text.startsWith("<think>", i)) {
        inside = true;
        i += 7;
      } else if (text.startsWith("</think>", i)) {
        inside = false;
        dropWhitespace = true;
        i += 8;
      } else {
        const ch = text[i++] as string;
        if (inside || (dropWhitespace && /\s/.test(ch))) continue;
        dropWhitespace = false;
        out += ch;
      }
    }
    return out;
  }

  it("gives the same text however the stream is split", () => {
    const piece = fc.constantFrom(
      "<think>",
      "</think>",
      "<",
      "/",
      "think",
      ">",
      "a",
      "b c",
      " ",
      "\n",
      "<th",
      "nk>",
    );
    fc.assert(
      fc.property(
        fc.array(piece, { maxLength: 40 }),
        fc.array(fc.nat(), { maxLength: 10 }),
        (pieces, cuts) => {
          const text = pieces.join("");
          const positions = [...new Set(cuts.map((c) => c % (text.length + 1)))].sort((a, b) => a - b);
          const stripper = createThinkStripper();
          let out = "";
          let start = 0;
          for (const cut of [...positions, text.length]) {
            out += stripper.push(text.slice(start, cut));
            start = cut;
          }
          out += stripper.flush();
          expect(out).toBe(stripWhole(text));
        },
      ),
      { numRuns: 1000 },
    );
  });

  it("drops an unterminated thought at the end", () => {
    const stripper = createThinkStripper();
    expect(stripper.push("Hi. <think>still thinking")).toBe("Hi. ");
    expect(stripper.flush()).toBe("");
  });
});

describe("tool call assembler", () => {
  it("starts a new call when an index is reused with a different id (older Ollama)", () => {
    const assembler = new ToolCallAssembler();
    assembler.add([{ index: 0, id: "a", function: { name: "end_call", arguments: "{}" } }]);
    assembler.add([{ index: 0, id: "b", function: { name: "transfer_call", arguments: '{"reason":"x"}' } }]);
    expect(assembler.take().calls).toEqual([
      { id: "a", name: "end_call", arguments: "{}" },
      { id: "b", name: "transfer_call", arguments: '{"reason":"x"}' },
    ]);
  });

  it("drops a call without a name and invents an id when none was sent", () => {
    const assembler = new ToolCallAssembler();
    assembler.add([
      { index: 0, function: { arguments: "{}" } },
      { index: 1, function: { name: "end_call" } },
    ]);
    const { calls, dropped } = assembler.take();
    expect(dropped).toHaveLength(1);
    expect(calls).toHaveLength(1);
    expect(calls[0]?.name).toBe("end_call");
    expect(calls[0]?.id).toMatch(/^call_[0-9a-f]{32}$/);
    expect(assembler.pending).toBe(false);
  });
});

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === "string") throw new Error("no port");
  return address.port;
}
