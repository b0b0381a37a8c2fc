import { randomBytes } from "node:crypto";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { MODELS_USAGE, runModelsCli } from "../../src/models/models-cli.js";
import { type FakeHub, startFakeHub } from "../fakes/fake-hugging-face-hub.js";

const KOKORO_REPO = "onnx-community/Kokoro-82M-v1.0-ONNX";
const graph = randomBytes(300_000);
const kokoroFiles = [
  { path: "config.json", content: Buffer.from('{"model_type":"style_text_to_speech_2"}') },
  { path: "tokenizer.json", content: Buffer.from('{"model":{}}') },
  { path: "tokenizer_config.json", content: Buffer.from("{}") },
  { path: "onnx/model_quantized.onnx", content: graph, lfs: true },
  { path: "onnx/model.onnx", content: randomBytes(1000), lfs: true },
  { path: "README.md", content: Buffer.from("# Kokoro") },
];
const piperFiles = [
  { path: "en_US-lessac-medium.onnx", content: randomBytes(5000), lfs: true },
  { path: "tokens.txt", content: Buffer.from("_ 0\n^ 1\n") },
  { path: "espeak-ng-data/phontab", content: randomBytes(200) },
  { path: "espeak-ng-data/voices/!v/f1", content: Buffer.from("name f1") },
  { path: "MODEL_CARD", content: Buffer.from("voice card") },
];

let hub: FakeHub;
let dir: string;

beforeEach(async () => {
  hub = await startFakeHub({
    [KOKORO_REPO]: kokoroFiles,
    "csukuangfj/vits-piper-en_US-lessac-medium": piperFiles,
  });
  dir = await mkdtemp(join(tmpdir(), "models-cli-"));
});

afterEach(async () => {
  await hub.close();
  await rm(dir, { recursive: true, force: true });
});

async function run(...argv: string[]) {
  const lines: string[] = [];
  const progress = new PassThrough();
  let progressText = "";
  progress.on("data", (chunk: Buffer) => {
    progressText += chunk.toString();
  });
  const status = await runModelsCli(argv, {
    out: (line) => lines.push(line),
    progress,
    env: { HF_ENDPOINT: hub.endpoint },
  });
  return { status, output: lines.join("\n"), progressText };
}

describe("npm run models", () => {
  it("downloads exactly the Kokoro files the engine loads, verified, and prints the .env line", async () => {
    const result = await run("download", "kokoro", "--dir", dir);

    expect(result.status).toBe(0);
    const modelDir = join(dir, KOKORO_REPO);
    expect(await readFile(join(modelDir, "onnx/model_quantized.onnx"))).toEqual(graph);
    expect((await readdir(modelDir)).sort()).toEqual([
      "config.json",
      "onnx",
      "tokenizer.json",
      "tokenizer_config.json",
    ]);
    expect(await readdir(join(modelDir, "onnx"))).toEqual(["model_quantized.onnx"]);
    expect(result.output).toContain(`KOKORO_MODEL_DIR=${dir} KOKORO_DTYPE=q8`);
    expect(result.progressText).toContain("onnx/model_quantized.onnx");
  });

  it("does not fetch a verified file twice", async () => {
    await run("download", "kokoro", "--dir", dir);
    const servedFirst = hub.served.length;

    const again = await run("download", "kokoro", "--dir", dir);

    expect(again.status).toBe(0);
    expect(hub.served.length).toBe(servedFirst);
    expect(again.output).toContain("0 downloaded, 4 already there");
  });

  it("rejects a corrupted transfer and leaves no file the server would load", async () => {
    hub.corrupt("onnx/model_quantized.onnx");

    const result = await run("download", "kokoro", "--dir", dir);

    expect(result.status).toBe(1);
    expect(result.output).toMatch(/onnx\/model_quantized\.onnx arrived corrupted.*Run the command again/);
    const onnx = await readdir(join(dir, KOKORO_REPO, "onnx")).catch(() => []);
    expect(onnx).toEqual([]);
  });

  it("fetches a Piper voice with its whole espeak-ng-data folder", async () => {
    const result = await run("download", "piper", "--dir", dir);

    expect(result.status).toBe(0);
    const voiceDir = join(dir, "vits-piper-en_US-lessac-medium");
    expect(await readFile(join(voiceDir, "espeak-ng-data/voices/!v/f1"), "utf8")).toBe("name f1");
    expect(result.output).toContain(`PIPER_VOICE=${join(voiceDir, "en_US-lessac-medium.onnx")}`);
    expect(hub.served).not.toContain("MODEL_CARD");
  });

  it("holds the default LLM to its pinned size and checksum, whatever the repository lists", async () => {
    await hub.close();
    // The repository's listing would vouch for these bytes; the pin does not.
    hub = await startFakeHub({
      "unsloth/Qwen3-1.7B-GGUF": [{ path: "Qwen3-1.7B-Q4_K_M.gguf", content: randomBytes(4096), lfs: true }],
    });

    const result = await run("download", "llm", "--dir", dir);

    expect(result.status).toBe(1);
    expect(result.output).toMatch(
      /Qwen3-1\.7B-Q4_K_M\.gguf arrived corrupted: 4096 bytes .*expected 1107409472 bytes with b139949c5bd74937/,
    );
    expect(await readdir(join(dir, "unsloth/Qwen3-1.7B-GGUF"))).toEqual([]);
  });

  it("names the repository and the fix when a model does not exist", async () => {
    const result = await run("download", "whisper", "--whisper-model", "huge.xx", "--dir", dir);

    expect(result.status).toBe(1);
    expect(result.output).toContain("HTTP 404");
    expect(result.output).toContain("csukuangfj/sherpa-onnx-whisper-huge.xx");
  });

  it("says the Hub cannot be reached and what to do offline", async () => {
    await hub.close();
    const result = await run("download", "kokoro", "--dir", dir);
    hub = await startFakeHub({});

    expect(result.status).toBe(1);
    expect(result.output).toMatch(/cannot reach http:\/\/127\.0\.0\.1:\d+.*copy the models directory/);
  });

  it("lists what is installed, what is incomplete and the command for what is missing", async () => {
    await run("download", "kokoro", "--dir", dir);
    await rm(join(dir, KOKORO_REPO, "tokenizer.json"));
    await run("download", "vad", "--dir", dir);

    const result = await run("list", "--dir", dir);

    expect(result.status).toBe(0);
    expect(result.output).toMatch(
      /kokoro\s+incomplete .*missing tokenizer\.json; run npm run models -- download kokoro/,
    );
    expect(result.output).toMatch(/whisper\s+not installed; npm run models -- download whisper/);
    expect(result.output).toMatch(/vad\s+installed: .*silero-vad\/silero_vad\.onnx/);
  });

  it("prints usage for --help and for a mistake", async () => {
    expect(await run("--help")).toMatchObject({ status: 0, output: MODELS_USAGE });
    const wrong = await run("download", "bark");
    expect(wrong.status).toBe(2);
    expect(wrong.output).toContain('unknown model "bark": choose one of kokoro, whisper, llm, piper, vad');
  });
});
