import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it, vi } from "vitest";
import { loadConfig } from "../../src/config.js";
import { createEngines } from "../../src/engines/create-engines.js";
import { loadWithRetry, retryDelayMs } from "../../src/engines/retrying-load.js";
import { createLogger, type Log } from "../../src/logger.js";
import { buildServer } from "../../src/server.js";
import { LogCapture, RecordingCall, testConfig } from "../support/test-server.js";

/** A scheduler the test runs by hand: no wall-clock waits. */
function manualSchedule() {
  const pending: Array<{ run: () => void; ms: number; cancelled: boolean }> = [];
  return {
    pending,
    schedule: (run: () => void, ms: number) => {
      const entry = { run, ms, cancelled: false };
      pending.push(entry);
      return () => {
        entry.cancelled = true;
      };
    },
    runNext: () => pending.shift()?.run(),
  };
}

const settle = () => new Promise((resolve) => setImmediate(resolve));

describe("retryDelayMs", () => {
  it("doubles from 1 s and stops growing at 5 minutes", () => {
    expect([1, 2, 3, 4, 10].map((failures) => retryDelayMs(failures))).toEqual([
      1000, 2000, 4000, 8000, 300_000,
    ]);
    expect(retryDelayMs(50)).toBe(300_000);
  });
});

describe("loadWithRetry", () => {
  it("reports the failure with its fix, retries after the back-off, and is ready once a retry loads", async () => {
    const clock = manualSchedule();
    let attempts = 0;
    const loading = loadWithRetry({
      load: async () => {
        attempts += 1;
        if (attempts < 3) throw new Error("fetch failed");
        return "model";
      },
      describeFailure: (error, wait) => `${(error as Error).message}; retry in ${wait} ms`,
      schedule: clock.schedule,
    });
    expect(loading.current()).toEqual({ state: "checking" });
    await expect(loading.attempt()).rejects.toThrow("fetch failed");
    await settle();
    expect(loading.current()).toMatchObject({
      state: "unavailable",
      problem: "fetch failed; retry in 1000 ms",
    });
    expect(clock.pending.map((entry) => entry.ms)).toEqual([1000]);

    clock.runNext();
    await expect(loading.attempt()).rejects.toThrow("fetch failed");
    await settle();
    expect(loading.current()).toMatchObject({ problem: "fetch failed; retry in 2000 ms" });

    clock.runNext();
    await expect(loading.attempt()).resolves.toBe("model");
    await expect(loading.loaded).resolves.toBe("model");
    expect(loading.current()).toMatchObject({ state: "ready" });
    expect(clock.pending).toEqual([]);
    expect(attempts).toBe(3);
  });

  it("schedules nothing more once stopped", async () => {
    const clock = manualSchedule();
    const loading = loadWithRetry({
      load: async () => {
        throw new Error("no network");
      },
      describeFailure: () => "down",
      schedule: clock.schedule,
    });
    await loading.attempt().catch(() => undefined);
    await settle();
    loading.stop();
    expect(clock.pending.every((entry) => entry.cancelled)).toBe(true);
  });
});

describe("loadWithRetry during a download", () => {
  it("shows what is being downloaded, refuses calls at once meanwhile, and lets them wait for a plain load", async () => {
    let report: (activity: string) => void = () => undefined;
    let finish: (value: string) => void = () => undefined;
    const loading = loadWithRetry<string>({
      load: (downloading) => {
        report = downloading;
        return new Promise((resolve) => {
          finish = resolve;
        });
      },
      describeFailure: () => "down",
      schedule: manualSchedule().schedule,
    });
    // A load that has reported no download yet is a load of seconds: a call waits for it.
    const waiting = loading.forCall();
    report("llm: downloading model.gguf: 42% of 1.03 GiB");
    expect(loading.current()).toEqual({
      state: "checking",
      activity: "llm: downloading model.gguf: 42% of 1.03 GiB",
    });
    await expect(loading.forCall()).rejects.toMatchObject({
      name: "ModelDownloadingError",
      message: "not ready yet: llm: downloading model.gguf: 42% of 1.03 GiB",
    });
    finish("model");
    await expect(waiting).resolves.toBe("model");
    await settle();
    expect(loading.current()).toMatchObject({ state: "ready" });
    await expect(loading.forCall()).resolves.toBe("model");
    // A late progress report from the finished attempt changes nothing.
    report("llm: downloading model.gguf: 100% of 1.03 GiB");
    expect(loading.current()).toMatchObject({ state: "ready" });
  });
});

describe("Kokoro that cannot load", () => {
  it("is reported unavailable, naming KOKORO_MODEL_DIR, and a call's synthesis fails with the reason", async () => {
    const empty = mkdtempSync(join(tmpdir(), "no-kokoro-"));
    // Deepgram and an LLM server are only reached by a call, so nothing but Kokoro loads here.
    const { env } = loadConfig({
      KOKORO_MODEL_DIR: empty,
      DEEPGRAM_API_KEY: "dg-key-456",
      LLM_BASE_URL: "http://127.0.0.1:9/v1",
    });
    const logs = new LogCapture();
    const log = createLogger({ level: "debug", secrets: [], destination: logs }) as unknown as Log;
    const engines = createEngines(env, ["Hello."], log);
    try {
      await vi.waitFor(() => expect(engines.ttsState().state).toBe("unavailable"), { timeout: 60_000 });
      const state = engines.ttsState();
      expect(state.state === "unavailable" && state.problem).toMatch(
        new RegExp(`Kokoro could not load: .*Retrying in 1 s\\. Check that KOKORO_MODEL_DIR=${empty} holds`),
      );
      expect(logs.messages().some((message) => message.startsWith("Kokoro could not load"))).toBe(true);
      const server = await buildServer({
        config: testConfig({ KOKORO_MODEL_DIR: empty }),
        logger: createLogger({ level: "silent", secrets: [] }),
        createCall: (start, output) => new RecordingCall(start, output),
        liveEngines: { tts: { current: engines.ttsState } },
      });
      const health = (await server.app.inject({ method: "GET", url: "/health" })).json();
      await server.app.close();
      const tts = health.engines.find((engine: { engine: string }) => engine.engine === "tts");
      expect(tts).toMatchObject({ ready: false, provider: "kokoro" });
      expect(tts.missing.join(" ")).toMatch(/Kokoro could not load/);
      const synthesis = engines.tts.synthesize("Hi", { callId: "CA1", signal: new AbortController().signal });
      await expect(synthesis[Symbol.asyncIterator]().next()).rejects.toMatchObject({ engine: "tts" });
    } finally {
      engines.stopRetrying();
    }
  }, 90_000);
});
