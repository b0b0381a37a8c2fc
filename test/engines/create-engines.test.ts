/**
 * The configuration picks the engines: the self-hosted choices reach the adapters they name.
 */
import { readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it, vi } from "vitest";
import { loadConfig } from "../../src/config.js";
import { createEngines } from "../../src/engines/create-engines.js";
import { createLogger, type Log } from "../../src/logger.js";
import { startFakePiperServer } from "../fakes/fake-piper-server.js";

const SPEECH_WAV = readFileSync(
  fileURLToPath(new URL("../../fixtures/real/audio/ljspeech-LJ001-0002.wav", import.meta.url)),
);
const silentLog = () => createLogger({ level: "silent", secrets: [] }) as unknown as Log;

async function firstAudio(engines: ReturnType<typeof createEngines>): Promise<Uint8Array> {
  const pieces = engines.tts.synthesize("Hello.", { callId: "CA1", signal: new AbortController().signal });
  const first = await pieces[Symbol.asyncIterator]().next();
  if (first.done) throw new Error("no audio");
  return first.value;
}

const TINY_GGUF = fileURLToPath(new URL("../../fixtures/models/stories260K.gguf", import.meta.url));

describe("createEngines", () => {
  it("answers with llama.cpp in process with LLM_PROVIDER=embedded, and reports the queue metric", async () => {
    const { env } = loadConfig({ LLM_PROVIDER: "embedded", LLM_MODEL_PATH: TINY_GGUF });
    const queues: string[] = [];
    const engines = createEngines(env, [], silentLog(), {
      engineErrors: { inc: () => undefined },
      watchEngineQueue: (engine) => queues.push(engine),
    });
    try {
      await engines.probeLlm(new AbortController().signal);
      let text = "";
      for await (const chunk of engines.llm.stream({
        callId: "CA1",
        messages: [{ role: "user", content: "Once upon a time" }],
        tools: [],
        signal: new AbortController().signal,
      })) {
        if (chunk.type === "text") text += chunk.text;
      }
      expect(text.trim()).not.toBe("");
      expect(queues).toEqual(["llm"]);
    } finally {
      engines.stopRetrying();
    }
  });

  it("says what to set when LLM_PROVIDER=embedded has no LLM_MODEL_PATH, and the loader names a missing file", async () => {
    const unset = createEngines(loadConfig({ LLM_PROVIDER: "embedded" }).env, [], silentLog());
    await expect(unset.probeLlm(new AbortController().signal)).rejects.toThrow(/LLM_MODEL_PATH is not set/);
    unset.stopRetrying();

    const missing = "/nowhere/model.gguf";
    const absent = createEngines(
      loadConfig({ LLM_PROVIDER: "embedded", LLM_MODEL_PATH: missing }).env,
      [],
      silentLog(),
    );
    try {
      await expect(absent.probeLlm(new AbortController().signal)).rejects.toMatchObject({
        engine: "llm",
        message: expect.stringContaining(missing),
      });
    } finally {
      absent.stopRetrying();
    }
  });

  it("speaks through Piper's HTTP server with TTS_PROVIDER=piper and PIPER_BASE_URL", async () => {
    const piper = await startFakePiperServer({ wav: SPEECH_WAV });
    const { env } = loadConfig({ TTS_PROVIDER: "piper", PIPER_BASE_URL: piper.url });
    const engines = createEngines(env, [], silentLog());
    try {
      expect((await firstAudio(engines)).length).toBeGreaterThan(0);
      expect(piper.requests.map((request) => [request.method, request.body])).toEqual([
        ["POST", { text: "Hello." }],
      ]);
      expect(engines.ttsState().state).toBe("ready");
    } finally {
      engines.stopRetrying();
      await piper.close();
    }
  });

  it("loads the Piper voice in process without PIPER_BASE_URL, and says what to fix when it is missing", async () => {
    const dir = await mkdtemp(join(tmpdir(), "no-voice-"));
    const voice = join(dir, "en_US-lessac-medium.onnx");
    const { env } = loadConfig({ TTS_PROVIDER: "piper", PIPER_VOICE: voice });
    const engines = createEngines(env, [], silentLog());
    try {
      await vi.waitFor(() => expect(engines.ttsState().state).toBe("unavailable"), { timeout: 60_000 });
      const state = engines.ttsState();
      const problem = state.state === "unavailable" ? state.problem : "";
      expect(problem).toMatch(/^Piper could not load: /);
      expect(problem).toContain(voice);
      expect(problem).toContain("npm run models -- download piper");
      await expect(firstAudio(engines)).rejects.toMatchObject({ engine: "tts" });
    } finally {
      engines.stopRetrying();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
