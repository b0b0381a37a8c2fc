/**
 * The embedded LLM on real llama.cpp: `fixtures/models/stories260K.gguf` (a 260K-parameter storyteller, MIT)
 * loaded by the real loader, generating on the CPU. It cannot judge tool use or follow a prompt, so the
 * tool-calling tests check the plumbing: the functions reach the model's prompt, and a function call that
 * node-llama-cpp reports becomes the call machine's tool call (with a scripted generator, since this model
 * never makes one).
 */
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { endCallTool, transferCallTool } from "../../machines/call-tools.js";
import { type ChatMessage, EngineError, type LlmChunk } from "../../machines/engines.js";
import {
  EmbeddedLlmClient,
  type LoadedEmbeddedLlm,
  loadEmbeddedLlm,
  type ReplyGenerator,
} from "../../src/engines/embedded-llm.js";

const TINY_GGUF = join(import.meta.dirname, "..", "..", "fixtures", "models", "stories260K.gguf");

const MESSAGES: ChatMessage[] = [
  { role: "system", content: "You are the receptionist." },
  { role: "user", content: "Once upon a time" },
];

function live(): AbortSignal {
  return new AbortController().signal;
}

async function collect(chunks: AsyncIterable<LlmChunk>): Promise<LlmChunk[]> {
  const out: LlmChunk[] = [];
  for await (const chunk of chunks) out.push(chunk);
  return out;
}

function textOf(chunks: readonly LlmChunk[]): string {
  return chunks.map((chunk) => (chunk.type === "text" ? chunk.text : "")).join("");
}

describe("embedded LLM on the tiny GGUF", () => {
  let loaded: LoadedEmbeddedLlm;

  beforeAll(async () => {
    loaded = await loadEmbeddedLlm({
      modelPath: TINY_GGUF,
      sequences: 1,
      contextSize: 2048,
      threads: 1,
      gpu: false,
      maxTokens: 40,
      maxWaiting: 2,
    });
  });
  afterAll(async () => {
    await loaded?.dispose();
  });

  it("streams the reply as text chunks, token by token", async () => {
    const before = loaded.client.generatedTokens;
    const chunks = await collect(
      loaded.client.stream({ callId: "CA1", messages: MESSAGES, tools: [], signal: live() }),
    );

    expect(chunks.length).toBeGreaterThan(5);
    expect(chunks.every((chunk) => chunk.type === "text" && chunk.text !== "")).toBe(true);
    expect(textOf(chunks).trim()).not.toBe("");
    const generated = loaded.client.generatedTokens - before;
    expect(generated).toBeGreaterThan(5);
    // maxTokens bounds a runaway reply.
    expect(generated).toBeLessThanOrEqual(40);
  });

  it("stops the computation on abort, within a token or two, and throws an aborted EngineError", async () => {
    const controller = new AbortController();
    const stream = loaded.client.stream({
      callId: "CA1",
      messages: MESSAGES,
      tools: [],
      signal: controller.signal,
    });
    let received = 0;
    let tokensAtAbort = 0;
    const reading = (async () => {
      for await (const _chunk of stream) {
        received += 1;
        if (received === 3) {
          tokensAtAbort = loaded.client.generatedTokens;
          controller.abort();
        }
      }
    })();

    await expect(reading).rejects.toMatchObject({ engine: "llm", kind: "aborted" });
    expect(received).toBe(3);
    // The slot is free again only once llama.cpp stopped; then the count says how far it went on.
    await waitUntil(() => loaded.client.running === 0);
    expect(loaded.client.generatedTokens - tokensAtAbort).toBeLessThanOrEqual(2);
  });

  it("stops generating when the consumer stops reading", async () => {
    const stream = loaded.client.stream({ callId: "CA1", messages: MESSAGES, tools: [], signal: live() });
    let tokensAtStop = 0;
    for await (const _chunk of stream) {
      tokensAtStop = loaded.client.generatedTokens;
      break;
    }
    await waitUntil(() => loaded.client.running === 0);
    expect(loaded.client.generatedTokens - tokensAtStop).toBeLessThanOrEqual(2);
  });

  it("queues a second concurrent request until the only sequence is free, then completes it", async () => {
    const first = collect(
      loaded.client.stream({ callId: "CA1", messages: MESSAGES, tools: [], signal: live() }),
    );
    const second = collect(
      loaded.client.stream({ callId: "CA2", messages: MESSAGES, tools: [], signal: live() }),
    );
    await waitUntil(() => loaded.client.waiting === 1);
    expect(loaded.client.running).toBe(1);

    const [a, b] = await Promise.all([first, second]);
    expect(textOf(a).trim()).not.toBe("");
    expect(textOf(b).trim()).not.toBe("");
    expect(loaded.client).toMatchObject({ running: 0, waiting: 0 });
  });

  it("refuses a request beyond the queue's bound with a clear error", async () => {
    const running = collect(
      loaded.client.stream({ callId: "CA1", messages: MESSAGES, tools: [], signal: live() }),
    );
    const waiting = [1, 2].map((n) =>
      collect(loaded.client.stream({ callId: `CA${n + 1}`, messages: MESSAGES, tools: [], signal: live() })),
    );
    const refused = collect(
      loaded.client.stream({ callId: "CA9", messages: MESSAGES, tools: [], signal: live() }),
    );

    await expect(refused).rejects.toMatchObject({
      engine: "llm",
      message: expect.stringMatching(/queue is full/),
    });
    await Promise.all([running, ...waiting]);
  });

  it("offers the call's tools to the model in its prompt", async () => {
    await collect(
      loaded.client.stream({
        callId: "CA1",
        messages: MESSAGES,
        tools: [endCallTool, transferCallTool],
        signal: live(),
      }),
    );
    // The prompt the model saw is what llama.cpp holds in the sequence's context after the reply.
    const [sequence] = loaded.sequences;
    const prompt = loaded.model.detokenize(sequence?.contextTokens ?? []);
    expect(prompt).toContain("function end_call(");
    expect(prompt).toContain("function transfer_call(");
    expect(prompt).toContain("Hang up the phone call.");
    expect(prompt).toContain("Once upon a time");
  });
});

describe("EmbeddedLlmClient with a scripted generator", () => {
  it("yields node-llama-cpp's function call as the machine's tool call, after the text", async () => {
    const seen: Parameters<ReplyGenerator["generate"]>[0][] = [];
    const generator: ReplyGenerator = {
      async generate(request) {
        seen.push(request);
        request.onText("Goodbye");
        request.onTokens(3);
        return { functionCalls: [{ functionName: "end_call", params: undefined }] };
      },
    };
    const client = new EmbeddedLlmClient({ generators: [generator], maxWaiting: 0, maxTokens: 10 });

    const chunks = await collect(
      client.stream({ callId: "CA1", messages: MESSAGES, tools: [endCallTool], signal: live() }),
    );

    expect(chunks).toEqual([
      { type: "text", text: "Goodbye" },
      { type: "toolCall", call: { id: "embedded-1-0", name: "end_call", arguments: "{}" } },
    ]);
    expect(seen[0]?.functions).toEqual({
      end_call: { description: endCallTool.description, params: undefined },
    });
    expect(seen[0]?.maxTokens).toBe(10);
  });

  it("reports a generator failure as an llm EngineError naming the cause", async () => {
    const client = new EmbeddedLlmClient({
      generators: [{ generate: async () => Promise.reject(new Error("llama_decode returned -1")) }],
      maxWaiting: 0,
      maxTokens: 10,
    });
    const failure = collect(client.stream({ callId: "CA1", messages: MESSAGES, tools: [], signal: live() }));
    await expect(failure).rejects.toBeInstanceOf(EngineError);
    await expect(failure).rejects.toMatchObject({
      engine: "llm",
      kind: "unknown",
      message: "embedded LLM failed: llama_decode returned -1",
    });
  });

  it("gives a call's next request the sequence it used last when that one is free", async () => {
    const used: number[] = [];
    const generators: ReplyGenerator[] = [0, 1].map((index) => ({
      async generate() {
        used.push(index);
        return { functionCalls: [] };
      },
    }));
    const client = new EmbeddedLlmClient({ generators, maxWaiting: 0, maxTokens: 10 });
    const ask = (callId: string) =>
      collect(client.stream({ callId, messages: MESSAGES, tools: [], signal: live() }));

    await Promise.all([ask("CA-a"), ask("CA-b")]);
    await ask("CA-b");
    await ask("CA-a");

    expect(used).toEqual([0, 1, 1, 0]);
  });
});

async function waitUntil(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise<void>((resolve) => setImmediate(resolve));
}
