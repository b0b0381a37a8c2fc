/**
 * The configuration picks the engines: the self-hosted choices reach the adapters they name.
 */
import { once } from "node:events";
import { readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer as createHttpServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it, vi } from "vitest";
import { loadConfig } from "../../src/config.js";
import { createEngines } from "../../src/engines/create-engines.js";
import { createLogger, type Log } from "../../src/logger.js";
import { DEFAULT_LLM_FILE } from "../../src/models/model-catalog.js";
import { startFakePiperServer } from "../fakes/fake-piper-server.js";
import { closedLoopbackUrl } from "../support/closed-port.js";

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

/** A hub that starts sending the file it is asked for, then stops half-way: a download in progress. */
async function stallingHub() {
  let sent: () => void = () => undefined;
  const firstBytesSent = new Promise<void>((resolve) => {
    sent = resolve;
  });
  const server = createHttpServer((_request, response) => {
    response.writeHead(200, { "content-length": String(DEFAULT_LLM_FILE.size) });
    response.write(Buffer.alloc(64 * 1024), () => sent());
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    firstBytesSent,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** STT and LLM services that are only reached by a call: what a test of the TTS choice needs beside it. */
const SERVED_STT_AND_LLM = { DEEPGRAM_API_KEY: "dg-key-456", LLM_BASE_URL: "http://127.0.0.1:9/v1" };

const TINY_GGUF = fileURLToPath(new URL("../../fixtures/models/stories260K.gguf", import.meta.url));

describe("createEngines", () => {
  it("answers with llama.cpp in process with LLM_PROVIDER=embedded, and reports the queue metric", async () => {
    const { env } = loadConfig({ DEEPGRAM_API_KEY: "dg-key-456", LLM_MODEL_PATH: TINY_GGUF });
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

  it("without LLM_MODEL_PATH loads the default model from MODELS_DIR, naming the command when it cannot be fetched", async () => {
    const dir = await mkdtemp(join(tmpdir(), "no-models-"));
    const hub = await closedLoopbackUrl();
    const { env } = loadConfig({ LLM_BASE_URL: "", MODELS_DIR: dir, HF_ENDPOINT: hub });
    const unset = createEngines({ ...env, STT_PROVIDER: "deepgram" }, [], silentLog());
    try {
      await expect(unset.probeLlm(new AbortController().signal)).rejects.toThrow(
        new RegExp(
          `the llm model \\(unsloth/Qwen3-1\\.7B-GGUF\\) is missing from ${dir}/unsloth/Qwen3-1\\.7B-GGUF .*` +
            `cannot reach ${hub}.*Fetch it with \`npm run models -- download llm --dir ${dir}\``,
        ),
      );
      const state = unset.llmState?.();
      expect(state?.state === "unavailable" && state.problem).toMatch(
        /^the embedded LLM could not load: .*Retrying in 1 s\./,
      );
    } finally {
      unset.stopRetrying();
      await rm(dir, { recursive: true, force: true });
    }

    const missing = "/nowhere/model.gguf";
    const absent = createEngines(
      loadConfig({ LLM_PROVIDER: "embedded", LLM_MODEL_PATH: missing, DEEPGRAM_API_KEY: "dg-key-456" }).env,
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

  it("refuses a call at once while the default model downloads, and shows the download in its state", async () => {
    const dir = await mkdtemp(join(tmpdir(), "downloading-"));
    const hub = await stallingHub();
    const { env } = loadConfig({
      MODELS_DIR: dir,
      HF_ENDPOINT: hub.endpoint,
      DEEPGRAM_API_KEY: "dg-key-456",
    });
    const engines = createEngines(env, [], silentLog());
    try {
      await hub.firstBytesSent;
      // The bytes are sent; the state follows once the client has read them.
      await vi.waitFor(
        () =>
          expect(engines.llmState?.()).toMatchObject({
            state: "checking",
            activity: expect.stringMatching(/^llm: downloading Qwen3-1\.7B-Q4_K_M\.gguf: 0% of 1\.03 GiB/),
          }),
        { timeout: 60_000 },
      );
      const reply = engines.llm.stream({
        callId: "CA1",
        messages: [{ role: "user", content: "Hello?" }],
        tools: [],
        signal: new AbortController().signal,
      });
      await expect(reply[Symbol.asyncIterator]().next()).rejects.toMatchObject({
        engine: "llm",
        message: expect.stringMatching(/not ready yet: llm: downloading Qwen3-1\.7B-Q4_K_M\.gguf/),
      });
    } finally {
      engines.stopRetrying();
      await hub.close();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("speaks through Piper's HTTP server with TTS_PROVIDER=piper and PIPER_BASE_URL", async () => {
    const piper = await startFakePiperServer({ wav: SPEECH_WAV });
    const { env } = loadConfig({ ...SERVED_STT_AND_LLM, TTS_PROVIDER: "piper", PIPER_BASE_URL: piper.url });
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
    const { env } = loadConfig({ ...SERVED_STT_AND_LLM, TTS_PROVIDER: "piper", PIPER_VOICE: voice });
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
