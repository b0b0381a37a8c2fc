/**
 * The first start on a machine with no models and no network (issue 21): the real server, started as
 * `npm start` starts it (src/main.ts, nothing configured), in a directory with no .env, its models directory
 * empty and the Hugging Face endpoint a loopback port nobody listens on. It must come up, print where a
 * browser opens it, log each failed download clearly, and `/health` must name each missing model and the
 * exact command that fetches it.
 */
import { type ChildProcessByStdio, spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Readable } from "node:stream";
import { pathToFileURL } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { PACKAGE_ROOT } from "../../src/package-root.js";
import { freePort } from "../observability/free-port.js";
import { closedLoopbackUrl } from "../support/closed-port.js";

type Child = ChildProcessByStdio<null, Readable, Readable>;

let child: Child | undefined;
const dirs: string[] = [];
afterEach(async () => {
  if (child && child.exitCode === null && child.signalCode === null) {
    const exited = once(child, "exit");
    child.kill("SIGTERM");
    await exited;
  }
  child = undefined;
  await Promise.all(dirs.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
});

/** The server's JSON log lines as they come, and a way to wait for one (rejects if the server exits first). */
function watchLog(process: Child) {
  const lines: Array<Record<string, unknown>> = [];
  const waiters: Array<{
    test: (line: Record<string, unknown>) => boolean;
    resolve: (line: Record<string, unknown>) => void;
  }> = [];
  let stderr = "";
  let pending = "";
  process.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  process.stdout.on("data", (chunk: Buffer) => {
    pending += chunk.toString();
    const complete = pending.split("\n");
    pending = complete.pop() ?? "";
    for (const text of complete.filter(Boolean)) {
      const line = JSON.parse(text) as Record<string, unknown>;
      lines.push(line);
      for (const waiter of waiters.filter((w) => w.test(line))) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve(line);
      }
    }
  });
  const exited = once(process, "exit").then(([code]) => {
    throw new Error(`the server exited (${code}) before the line awaited:\n${stderr}`);
  });
  return {
    lines,
    next(test: (message: string) => boolean): Promise<Record<string, unknown>> {
      const seen = lines.find((line) => test(String(line.msg)));
      if (seen) return Promise.resolve(seen);
      return Promise.race([
        new Promise<Record<string, unknown>>((resolve) =>
          waiters.push({ test: (line) => test(String(line.msg)), resolve }),
        ),
        exited,
      ]);
    },
  };
}

describe("the first start with no models and no network", () => {
  it("comes up, and /health names each missing model and the command that fetches it", async () => {
    const models = await mkdtemp(join(tmpdir(), "fresh-start-models-"));
    const cwd = await mkdtemp(join(tmpdir(), "fresh-start-cwd-"));
    dirs.push(models, cwd);
    const hub = await closedLoopbackUrl();
    const port = await freePort();
    // Nothing configured but where to listen and the two places a test must own: no engine variable at all.
    child = spawn(
      process.execPath,
      [
        "--import",
        pathToFileURL(join(PACKAGE_ROOT, "node_modules/tsx/dist/loader.mjs")).href,
        join(PACKAGE_ROOT, "src/main.ts"),
      ],
      {
        cwd,
        env: {
          PATH: process.env.PATH,
          HOME: process.env.HOME,
          PORT: String(port),
          HOST: "127.0.0.1",
          MODELS_DIR: models,
          HF_ENDPOINT: hub,
        },
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    const log = watchLog(child);
    const url = `http://127.0.0.1:${port}/`;

    const consoleLine = await log.next((message) => message.startsWith("open "));
    expect(consoleLine.msg).toContain(
      `open ${url} in a browser; ${url}health says what each engine is doing`,
    );

    const commands = {
      stt: `npm run models -- download whisper --dir ${models}`,
      llm: `npm run models -- download llm --dir ${models}`,
      tts: `npm run models -- download kokoro --dir ${models}`,
    };
    const failures = await Promise.all([
      log.next((message) => message.startsWith("Whisper could not load")),
      log.next((message) => message.startsWith("the embedded LLM could not load")),
      log.next((message) => message.startsWith("Kokoro could not load")),
    ]);
    const [sttFailure, llmFailure, ttsFailure] = failures.map((line) => String(line.msg));
    expect(sttFailure).toContain(
      `the whisper model (csukuangfj/sherpa-onnx-whisper-tiny.en) is missing from ${models}/sherpa-onnx-whisper-tiny.en`,
    );
    expect(llmFailure).toContain(
      `the llm model (unsloth/Qwen3-1.7B-GGUF) is missing from ${models}/unsloth/Qwen3-1.7B-GGUF (Qwen3-1.7B-Q4_K_M.gguf)`,
    );
    expect(ttsFailure).toContain(
      `the kokoro model (onnx-community/Kokoro-82M-v1.0-ONNX) is missing from ${models}/onnx-community/Kokoro-82M-v1.0-ONNX`,
    );
    for (const [failure, command] of [
      [sttFailure, commands.stt],
      [llmFailure, commands.llm],
      [ttsFailure, commands.tts],
    ] as const) {
      expect(failure).toContain(`could not be downloaded: cannot reach ${hub}`);
      expect(failure).toContain(`Fetch it with \`${command}\``);
    }
    expect(failures.map((line) => line.level)).toEqual([50, 50, 50]);

    const response = await fetch(`${url}health`);
    expect(response.status).toBe(200);
    const health = (await response.json()) as {
      status: string;
      engines: Array<{ engine: string; provider: string; ready: boolean; missing: string[] }>;
    };
    expect(health.status).toBe("ok");
    const byEngine = Object.fromEntries(health.engines.map((engine) => [engine.engine, engine]));
    expect([byEngine.stt?.provider, byEngine.llm?.provider, byEngine.tts?.provider]).toEqual([
      "whisper",
      "embedded",
      "kokoro",
    ]);
    for (const [engine, model, command] of [
      ["stt", "whisper model (csukuangfj/sherpa-onnx-whisper-tiny.en)", commands.stt],
      ["llm", "llm model (unsloth/Qwen3-1.7B-GGUF)", commands.llm],
      ["tts", "kokoro model (onnx-community/Kokoro-82M-v1.0-ONNX)", commands.tts],
    ] as const) {
      const status = byEngine[engine];
      expect(status?.ready).toBe(false);
      const said = status?.missing.join(" ") ?? "";
      expect(said).toContain(`the ${model} is missing from ${models}`);
      expect(said).toContain(`Fetch it with \`${command}\``);
    }
  }, 120_000);
});
