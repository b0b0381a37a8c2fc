import { afterEach, describe, expect, it, vi } from "vitest";
import { OpenAiLlmClient } from "../../src/engines/openai-llm.js";
import { type LlmReachability, watchLlm } from "../../src/llm-reachability.js";
import { createLogger, type Log } from "../../src/logger.js";
import { buildServer, type Server } from "../../src/server.js";
import { FakeOpenAiLlm } from "../fakes/fake-openai-llm.js";
import { LogCapture, RecordingCall, testConfig } from "../support/test-server.js";

let fake: FakeOpenAiLlm | undefined;
let watcher: LlmReachability | undefined;
let server: Server | undefined;
afterEach(async () => {
  watcher?.stop();
  await server?.app.close();
  await fake?.close();
  fake = watcher = server = undefined;
});

async function healthOfLlm(s: Server) {
  const response = await s.app.inject({ method: "GET", url: "/health" });
  const engines = response.json().engines as Array<{ engine: string; ready: boolean; missing: string[] }>;
  return engines.find((engine) => engine.engine === "llm");
}

async function setUp(model: string, intervalMs = 3_600_000) {
  fake = await FakeOpenAiLlm.start();
  const logs = new LogCapture();
  const logger = createLogger({ level: "debug", secrets: [], destination: logs });
  const client = new OpenAiLlmClient({ baseUrl: fake.baseUrl, model });
  watcher = watchLlm({
    probe: (signal) => client.probe(signal),
    intervalMs,
    where: `model ${model} at ${fake.baseUrl}`,
    fix: "check LLM_BASE_URL and LLM_MODEL (start the server, or pull or serve the model)",
    log: logger as unknown as Log,
  });
  server = await buildServer({
    config: testConfig({ LLM_BASE_URL: fake.baseUrl, LLM_MODEL: model }),
    logger,
    createCall: (start, output) => new RecordingCall(start, output),
    liveEngines: { llm: watcher },
  });
  return { fake, watcher, server, logs };
}

describe("/health asks the LLM server instead of trusting the configuration", () => {
  it("is not ready before the first answer, ready once the server lists the model", async () => {
    const { watcher, server } = await setUp("Qwen/Qwen3-8B");
    expect(await healthOfLlm(server)).toMatchObject({ ready: false });
    await watcher.checkNow();
    expect(await healthOfLlm(server)).toMatchObject({ ready: true, missing: [] });
  });

  it("says which model is missing, and what to do, when the server does not serve it", async () => {
    const { watcher, server } = await setUp("llama3.1:8b");
    await watcher.checkNow();
    const llm = await healthOfLlm(server);
    expect(llm?.ready).toBe(false);
    expect(llm?.missing[0]).toMatch(/does not serve model "llama3\.1:8b".*Qwen\/Qwen3-8B/);
    expect(llm?.missing[0]).toMatch(/LLM_MODEL/);
  });

  it("goes unready when the server dies, logs it once however often it is asked, and recovers", async () => {
    const { fake: first, watcher, server, logs } = await setUp("Qwen/Qwen3-8B");
    await watcher.checkNow();
    const port = new URL(first.baseUrl).port;
    await first.close();
    await watcher.checkNow();
    await watcher.checkNow();
    expect((await healthOfLlm(server))?.missing[0]).toMatch(/cannot reach the LLM/);
    const warnings = logs.lines.filter((line) => line.level === 40 && String(line.msg).includes("llm:"));
    expect(warnings).toHaveLength(1);
    expect(String(warnings[0]?.msg)).toMatch(/check LLM_BASE_URL and LLM_MODEL/);
    expect(String(warnings[0]?.msg)).toMatch(/callers hear the apology/);

    fake = await FakeOpenAiLlm.start({ port: Number(port) });
    await watcher.checkNow();
    expect(await healthOfLlm(server)).toMatchObject({ ready: true });
  });

  it("asks again by itself after each interval", async () => {
    const { fake, watcher } = await setUp("Qwen/Qwen3-8B", 1);
    await watcher.checkNow();
    await vi.waitFor(
      () => expect(fake.requests.filter((r) => r.path === "/v1/models").length).toBeGreaterThanOrEqual(3),
      { timeout: 30_000 },
    );
  });
});
