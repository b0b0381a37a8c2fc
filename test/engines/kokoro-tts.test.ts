/**
 * Kokoro through the real kokoro-js path: transformers.js loads the real tokenizer and config from a local
 * directory (no network), kokoro-js normalises and phonemizes the text with its espeak-ng phonemizer, reads
 * the real voice file from node_modules/kokoro-js/voices, and onnxruntime-node runs a graph with Kokoro's
 * signature. Only the graph is a stand-in (see test/fakes/tiny-kokoro-model.ts): its output is exactly
 * predictable, so every byte that reaches the caller can be checked.
 */
import { readFileSync } from "node:fs";
import { mkdir, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { KokoroTTS } from "kokoro-js";
import { phonemize } from "phonemizer";
import { pino } from "pino";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { createPhraseCache } from "../../machines/phrase-cache.js";
import { createOutboundConverter } from "../../src/audio/converters.js";
import { createLoadProgressLogger } from "../../src/engines/kokoro/load-progress.js";
import { type KokoroTts, loadKokoro } from "../../src/engines/kokoro-tts.js";
import { ModelQueue } from "../../src/engines/model-queue.js";
import {
  buildTinyKokoroOnnx,
  createTinyKokoroModelDir,
  expectedTinyKokoroWaveform,
  TINY_KOKORO_GRAPH_FILE,
  TINY_KOKORO_SAMPLE_RATE,
  TINY_KOKORO_SAMPLES_PER_TOKEN,
} from "../fakes/tiny-kokoro-model.js";

const VOICES_DIR = join(dirname(createRequire(import.meta.url).resolve("kokoro-js")), "../voices");

const modelDirs: Array<{ remove: () => Promise<void> }> = [];
let modelDir: string;
let engine: KokoroTts;

beforeAll(async () => {
  modelDir = await tinyModelDir();
  engine = await loadKokoro({ modelDir });
});
afterEach(() => {
  vi.restoreAllMocks();
});
afterAll(async () => {
  for (const dir of modelDirs) await dir.remove();
});

describe("Kokoro in process: the real kokoro-js path on a tiny graph", () => {
  it("turns text into the mulaw of the waveform the graph computes for its tokens, voice and speed", async () => {
    const text = "hello world";
    const tokens = await tokenCount(text);

    const audio = await synthesizeAll(engine, text);

    expect(audio.length).toBe((tokens * TINY_KOKORO_SAMPLES_PER_TOKEN * 8000) / TINY_KOKORO_SAMPLE_RATE);
    expect(audio).toEqual(expectedMulaw(tokens, "af_heart", 1));
  });

  it("passes the voice and speed through: another voice's style row, another speed", async () => {
    const text = "hello world";
    const tokens = await tokenCount(text);
    const adam = await loadKokoro({ modelDir, voice: "am_adam", speed: 1.5 });

    const audio = await synthesizeAll(adam, text);

    expect(audio).toEqual(expectedMulaw(tokens, "am_adam", 1.5));
    expect(audio).not.toEqual(expectedMulaw(tokens, "af_heart", 1));
  });

  it("speaks a segment sentence by sentence, in order, as one seamless stream", async () => {
    const generate = vi.spyOn(KokoroTTS.prototype, "generate");

    const pieces = await collect(
      engine.synthesize("Hello there. How are you today?", { callId: "CA1", signal: live() }),
    );

    expect(generate.mock.calls.map(([sentence]) => sentence)).toEqual(["Hello there.", "How are you today?"]);
    expect(pieces.length).toBeGreaterThanOrEqual(2);
    const waveforms = await Promise.all(generate.mock.results.map((result) => result.value));
    const converter = createOutboundConverter(TINY_KOKORO_SAMPLE_RATE);
    const expected = Buffer.concat([
      ...waveforms.map((raw: { audio: Float32Array }) => converter.push(raw.audio)),
      converter.flush(),
    ]);
    expect(Buffer.concat(pieces)).toEqual(expected);
  });

  it("says nothing for empty text", async () => {
    expect(await collect(engine.synthesize("   ", { callId: "CA1", signal: live() }))).toEqual([]);
  });

  it("loads the model once per process and directory, however many voices use it", async () => {
    const lines: string[] = [];
    const logger = pino({ level: "info" }, { write: (line: string) => lines.push(line) });
    const dir = await tinyModelDir();

    await loadKokoro({ modelDir: dir, logger });
    await loadKokoro({ modelDir: dir, voice: "bf_emma", logger });

    const messages = lines.map((line) => (JSON.parse(line) as { msg: string }).msg);
    expect(messages.filter((msg) => msg === "kokoro model loading")).toHaveLength(1);
    expect(messages.filter((msg) => msg === "kokoro ready")).toHaveLength(2);
    expect(
      messages.some(
        (msg) => msg.startsWith(`kokoro model ${TINY_KOKORO_GRAPH_FILE} [`) && msg.includes("100%"),
      ),
    ).toBe(true);
  });

  it("accepts a models root holding <modelId>/, like transformers.js' localModelPath", async () => {
    const root = await mkdtemp(join(tmpdir(), "kokoro-root-"));
    modelDirs.push({ remove: () => rm(root, { recursive: true, force: true }) });
    await mkdir(join(root, "onnx-community"));
    await symlink(modelDir, join(root, "onnx-community", "Kokoro-82M-v1.0-ONNX"));

    const fromRoot = await loadKokoro({ modelDir: root });

    expect(await synthesizeAll(fromRoot, "hello world")).toEqual(await synthesizeAll(engine, "hello world"));
  });

  it("feeds the machines' phrase cache", async () => {
    const cache = createPhraseCache(engine);

    expect(await cache.prepare(["hello world"])).toEqual([]);
    expect(Buffer.from(cache.get("hello world") ?? [])).toEqual(await synthesizeAll(engine, "hello world"));
  });
});

describe("Kokoro in process: shared queue and abort", () => {
  it("takes an aborted segment out of the queue before the model ever runs it", async () => {
    const generate = vi.spyOn(KokoroTTS.prototype, "generate");
    const first = engine.synthesize("hello world", { callId: "CA1", signal: live() })[Symbol.asyncIterator]();
    const controller = new AbortController();
    const second = engine
      .synthesize("good morning", { callId: "CA2", signal: controller.signal })
      [Symbol.asyncIterator]();

    const firstPiece = first.next();
    const secondPiece = second.next();
    expect(engine.queue).toMatchObject({ running: 1, waiting: 1 });
    controller.abort();

    await expect(secondPiece).rejects.toMatchObject({ engine: "tts", kind: "aborted" });
    expect(engine.queue.waiting).toBe(0);
    expect((await firstPiece).done).toBe(false);
    await drain(first);
    expect(generate.mock.calls.map(([sentence]) => sentence)).toEqual(["hello world"]);
  });

  it("stops an aborted segment at the next sentence", async () => {
    const generate = vi.spyOn(KokoroTTS.prototype, "generate");
    const controller = new AbortController();
    const speech = engine
      .synthesize("This is the first sentence. This one is never spoken.", {
        callId: "CA1",
        signal: controller.signal,
      })
      [Symbol.asyncIterator]();

    expect((await speech.next()).done).toBe(false);
    controller.abort();

    await expect(speech.next()).rejects.toMatchObject({ kind: "aborted" });
    expect(generate).toHaveBeenCalledTimes(1);
  });

  it("answers an abort during a model run at once, and keeps the slot until the run is over", async () => {
    const controller = new AbortController();
    const speech = engine
      .synthesize("hello world", { callId: "CA1", signal: controller.signal })
      [Symbol.asyncIterator]();

    const pending = speech.next();
    controller.abort();

    await expect(pending).rejects.toMatchObject({ kind: "aborted" });
    expect(engine.queue.running).toBe(1);
    while (engine.queue.running > 0) await new Promise((resolve) => setImmediate(resolve));
    expect(await synthesizeAll(engine, "hello world")).toEqual(
      expectedMulaw(await tokenCount("hello world"), "af_heart", 1),
    );
  });

  it("refuses a segment when the waiting line is full, and serves the others", async () => {
    const bounded = await loadKokoro({ modelDir: await tinyModelDir(), maxWaiting: 1 });
    const running = bounded
      .synthesize("hello world", { callId: "CA1", signal: live() })
      [Symbol.asyncIterator]();
    const waiting = bounded
      .synthesize("hello world", { callId: "CA2", signal: live() })
      [Symbol.asyncIterator]();
    const refused = bounded
      .synthesize("hello world", { callId: "CA3", signal: live() })
      [Symbol.asyncIterator]();

    const runningPiece = running.next();
    const waitingPiece = waiting.next();
    const refusedPiece = refused.next();

    await expect(refusedPiece).rejects.toMatchObject({
      engine: "tts",
      message: expect.stringMatching(/queue is full/),
    });
    expect((await runningPiece).done).toBe(false);
    expect((await waitingPiece).done).toBe(false);
    await Promise.all([drain(running), drain(waiting)]);
  });

  it("refuses an already aborted signal", async () => {
    await expect(
      collect(engine.synthesize("hello", { callId: "CA1", signal: AbortSignal.abort() })),
    ).rejects.toMatchObject({
      kind: "aborted",
    });
  });
});

describe("Kokoro synthesis queue", () => {
  it("runs waiting tasks one at a time in arrival order, and a failing task frees its slot", async () => {
    const queue = new ModelQueue({ engine: "tts", label: "Kokoro synthesis", maxRunning: 1, maxWaiting: 3 });
    const started: string[] = [];
    const tasks = ["a", "b", "c"].map((name) => deferred<string>(name));

    const results = tasks.map((task) =>
      queue.run(() => {
        started.push(task.name);
        return task.promise;
      }, live()),
    );
    expect(started).toEqual(["a"]);
    tasks[0]?.reject(new Error("model crashed"));
    await expect(results[0]).rejects.toThrow("model crashed");
    expect(started).toEqual(["a", "b"]);
    tasks[1]?.resolve("b done");
    tasks[2]?.resolve("c done");

    expect(await Promise.all(results.slice(1))).toEqual(["b done", "c done"]);
    expect(queue).toMatchObject({ running: 0, waiting: 0 });
  });

  it("frees the slot of a task that throws before returning a promise", async () => {
    const queue = new ModelQueue({ engine: "tts", label: "Kokoro synthesis", maxRunning: 1, maxWaiting: 1 });

    await expect(
      queue.run(() => {
        throw new Error("bad input");
      }, live()),
    ).rejects.toThrow("bad input");

    expect(await queue.run(async () => "next", live())).toBe("next");
  });

  it("rejects a bound that is not a usable count", () => {
    expect(
      () => new ModelQueue({ engine: "tts", label: "Kokoro synthesis", maxRunning: 0, maxWaiting: 1 }),
    ).toThrow(/maxRunning must be at least 1/);
    expect(
      () => new ModelQueue({ engine: "tts", label: "Kokoro synthesis", maxRunning: 1, maxWaiting: -1 }),
    ).toThrow(/maxWaiting must be a non-negative/);
  });
});

describe("Kokoro in process: load errors", () => {
  it("names the missing graph file, and loads once it is there", async () => {
    const { dir, remove } = await createTinyKokoroModelDir({ omit: [TINY_KOKORO_GRAPH_FILE] });
    modelDirs.push({ remove });

    const failure = loadKokoro({ modelDir: dir });

    await expect(failure).rejects.toMatchObject({ engine: "tts", kind: "connect" });
    await expect(failure).rejects.toThrow(`"${dir}" is missing ${TINY_KOKORO_GRAPH_FILE} (dtype q8 needs`);
    await writeFile(join(dir, TINY_KOKORO_GRAPH_FILE), buildTinyKokoroOnnx());
    await expect(loadKokoro({ modelDir: dir })).resolves.toMatchObject({ name: "kokoro" });
  });

  it("names every missing file for the chosen dtype", async () => {
    const { dir, remove } = await createTinyKokoroModelDir({ omit: ["tokenizer.json"] });
    modelDirs.push({ remove });

    await expect(loadKokoro({ modelDir: dir, dtype: "fp32" })).rejects.toThrow(
      "is missing tokenizer.json, onnx/model.onnx (dtype fp32 needs",
    );
  });

  it("reports a directory that does not exist", async () => {
    await expect(loadKokoro({ modelDir: join(modelDir, "nowhere") })).rejects.toThrow(
      /nowhere" does not exist/,
    );
  });

  it("reports a graph onnxruntime cannot read", async () => {
    const { dir, remove } = await createTinyKokoroModelDir({ omit: [TINY_KOKORO_GRAPH_FILE] });
    modelDirs.push({ remove });
    await writeFile(join(dir, TINY_KOKORO_GRAPH_FILE), "not an onnx graph");

    await expect(loadKokoro({ modelDir: dir })).rejects.toMatchObject({
      kind: "connect",
      message: expect.stringContaining("failed to load"),
    });
  });

  it("lists the voices when the configured one does not exist", async () => {
    await expect(loadKokoro({ modelDir, voice: "xx_nobody" })).rejects.toThrow(
      /Kokoro voice "xx_nobody" does not exist; choose one of af_heart, .*am_adam/,
    );
  });

  it("refuses a speed that is not a positive number", async () => {
    await expect(loadKokoro({ modelDir, speed: 0 })).rejects.toThrow(/speed must be a positive number/);
  });
});

describe("Kokoro load progress log", () => {
  it("logs each file at most once per 10% step, with a bar and the size", () => {
    const lines: Array<{ file: string; percent: number; msg: string }> = [];
    const logger = pino({ level: "info" }, { write: (line: string) => lines.push(JSON.parse(line)) });
    const report = createLoadProgressLogger(logger);
    const total = 92_361_116;

    report({ status: "initiate", file: "onnx/model_quantized.onnx" });
    for (let loaded = 0; loaded <= total; loaded += 65_536) {
      report({
        status: "progress",
        file: "onnx/model_quantized.onnx",
        progress: (loaded / total) * 100,
        loaded,
        total,
      });
      if (loaded === 0)
        report({ status: "progress", file: "config.json", progress: 100, loaded: 44, total: 44 });
    }
    report({ status: "progress", file: "onnx/model_quantized.onnx", progress: 100, loaded: total, total });
    report({ status: "done", file: "onnx/model_quantized.onnx" });

    const graphLines = lines.filter((line) => line.file === "onnx/model_quantized.onnx");
    expect(graphLines.map((line) => line.percent)).toEqual([0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100]);
    expect(graphLines.at(-1)?.msg).toBe(
      "kokoro model onnx/model_quantized.onnx [####################] 100% of 92.4 MB",
    );
    expect(lines.filter((line) => line.file === "config.json").map((line) => line.msg)).toEqual([
      "kokoro model config.json [####################] 100% of 44 B",
    ]);
  });
});

async function tinyModelDir(): Promise<string> {
  const created = await createTinyKokoroModelDir();
  modelDirs.push(created);
  return created.dir;
}

/** Input ids kokoro-js feeds the graph: one per phoneme character, plus the pad token at each end. */
async function tokenCount(text: string): Promise<number> {
  const phonemes = (await phonemize(text, "en-us")).join(" ");
  return [...phonemes].length + 2;
}

/** kokoro-js picks the style row by token count from the voice file (510 rows of 256 floats). */
function styleRow(voice: string, tokens: number): Float32Array {
  const file = readFileSync(join(VOICES_DIR, `${voice}.bin`));
  const all = new Float32Array(file.buffer, file.byteOffset, file.length / 4);
  const row = Math.min(Math.max(tokens - 2, 0), 509);
  return all.slice(row * 256, row * 256 + 256);
}

function expectedMulaw(tokens: number, voice: string, speed: number): Buffer {
  const converter = createOutboundConverter(TINY_KOKORO_SAMPLE_RATE);
  const waveform = expectedTinyKokoroWaveform(tokens, styleRow(voice, tokens), speed);
  return Buffer.concat([converter.push(waveform), converter.flush()]);
}

function deferred<T>(name: string): {
  name: string;
  promise: Promise<T>;
  resolve: (value: T) => void;
  reject: (error: Error) => void;
} {
  let resolve: (value: T) => void = () => {};
  let reject: (error: Error) => void = () => {};
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { name, promise, resolve, reject };
}

function live(): AbortSignal {
  return new AbortController().signal;
}

async function collect(stream: AsyncIterable<Uint8Array>): Promise<Uint8Array[]> {
  const pieces: Uint8Array[] = [];
  for await (const piece of stream) pieces.push(piece);
  return pieces;
}

async function synthesizeAll(tts: KokoroTts, text: string): Promise<Buffer> {
  return Buffer.concat(await collect(tts.synthesize(text, { callId: "CA1", signal: live() })));
}

async function drain(iterator: AsyncIterator<Uint8Array>): Promise<void> {
  for (let next = await iterator.next(); !next.done; next = await iterator.next()) {
    // The audio itself is checked elsewhere; here only that the segment completes.
  }
}
