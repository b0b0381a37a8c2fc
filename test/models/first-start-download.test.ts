/**
 * A first start fetches an in-process engine's default model into MODELS_DIR by itself, once, verified, with
 * its progress logged; the real engine then loads from there. Kokoro is the engine here because a tiny
 * stand-in of its graph runs for real (test/fakes/tiny-kokoro-model.ts); Whisper and the LLM go through the
 * same supply (src/models/model-supply.ts).
 */
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { loadConfig } from "../../src/config.js";
import { createEngines } from "../../src/engines/create-engines.js";
import { createLogger, type Log } from "../../src/logger.js";
import { type FakeHub, startFakeHub } from "../fakes/fake-hugging-face-hub.js";
import { buildTinyKokoroOnnx, KOKORO_TEXT_FILES_DIR } from "../fakes/tiny-kokoro-model.js";
import { LogCapture } from "../support/test-server.js";

const KOKORO_REPO = "onnx-community/Kokoro-82M-v1.0-ONNX";
const graph = Buffer.from(buildTinyKokoroOnnx());

let hub: FakeHub;
let models: string;
beforeEach(async () => {
  const text = async (path: string) => ({ path, content: await readFile(join(KOKORO_TEXT_FILES_DIR, path)) });
  hub = await startFakeHub({
    [KOKORO_REPO]: [
      await text("config.json"),
      await text("tokenizer.json"),
      await text("tokenizer_config.json"),
      { path: "onnx/model_quantized.onnx", content: graph, lfs: true },
      { path: "onnx/model.onnx", content: Buffer.alloc(2048), lfs: true },
    ],
  });
  models = await mkdtemp(join(tmpdir(), "first-start-"));
});
afterEach(async () => {
  await hub.close();
  await rm(models, { recursive: true, force: true });
});

/** Kokoro at its defaults; the STT and LLM services beside it are only reached by a call. */
function start() {
  const { env } = loadConfig({
    MODELS_DIR: models,
    HF_ENDPOINT: hub.endpoint,
    DEEPGRAM_API_KEY: "dg-key-456",
    LLM_BASE_URL: "http://127.0.0.1:9/v1",
  });
  const logs = new LogCapture();
  const log = createLogger({ level: "debug", secrets: [], destination: logs }) as unknown as Log;
  return { engines: createEngines(env, ["Hello."], log), logs };
}

describe("the first start with a reachable hub", () => {
  it("downloads the default Kokoro into MODELS_DIR with checksums, logs it, loads it, and never fetches it again", async () => {
    const first = start();
    try {
      await first.engines.ready;
      expect(first.engines.ttsState().state).toBe("ready");
      const modelDir = join(models, KOKORO_REPO);
      expect(await readFile(join(modelDir, "onnx/model_quantized.onnx"))).toEqual(graph);
      expect(await readdir(join(modelDir, "onnx"))).toEqual(["model_quantized.onnx"]);
      const messages = first.logs.messages();
      expect(messages).toContain(
        `kokoro: the kokoro model (${KOKORO_REPO}) is not in ${modelDir}: downloading it from ${hub.endpoint} (Apache-2.0)`,
      );
      expect(messages.some((m) => /^kokoro: downloading .*: 100% of .* \(4 files\)$/.test(m))).toBe(true);
      expect(messages).toContain(`kokoro: downloaded into ${modelDir}, checksums verified`);
      const audio = first.engines.tts.synthesize("Hello there.", {
        callId: "CA1",
        signal: new AbortController().signal,
      });
      expect((await audio[Symbol.asyncIterator]().next()).value?.length).toBeGreaterThan(0);
    } finally {
      first.engines.stopRetrying();
    }
    const servedByFirst = hub.served.length;
    expect(servedByFirst).toBe(4);

    const second = start();
    try {
      await second.engines.ready;
      expect(second.engines.ttsState().state).toBe("ready");
      expect(hub.served.length).toBe(servedByFirst);
      expect(second.logs.messages().some((m) => m.includes("downloading"))).toBe(false);
    } finally {
      second.engines.stopRetrying();
    }
  }, 120_000);

  it("refuses a corrupted transfer, keeps no file, and says which command fetches the model", async () => {
    hub.corrupt("onnx/model_quantized.onnx");
    const { engines } = start();
    try {
      await vi.waitFor(() => expect(engines.ttsState().state).toBe("unavailable"), { timeout: 60_000 });
      const state = engines.ttsState();
      expect(state.state === "unavailable" && state.problem).toMatch(
        new RegExp(
          `^Kokoro could not load: the kokoro model .* could not be downloaded: onnx/model_quantized\\.onnx arrived corrupted.*` +
            `Fetch it with \`npm run models -- download kokoro --dir ${models}\`\\. Retrying in 1 s\\.$`,
        ),
      );
      expect(await readdir(join(models, KOKORO_REPO, "onnx")).catch(() => [])).toEqual([]);
    } finally {
      engines.stopRetrying();
    }
  }, 120_000);
});
