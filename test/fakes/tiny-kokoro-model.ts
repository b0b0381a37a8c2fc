/**
 * A stand-in for Kokoro-82M's ONNX graph, built in the test so the real kokoro-js load and synthesis path can
 * run without the 92 MB weights (which cannot be fetched here).
 *
 * The graph has Kokoro's signature, as kokoro-js feeds it (`generate_from_ids`):
 *   input_ids int64 [1, N]   style float32 [1, 256]   speed float32 [1]   ->   waveform float32 [N * 600]
 * and computes, for every input token, 600 samples (25 ms at 24 kHz) of a 440 Hz tone, scaled by
 * `max(|style|) * speed / 4`. So the waveform's length proves how many tokens the tokenizer produced, and its
 * level proves which voice slice kokoro-js loaded and which speed it passed. Every operation is exact in
 * float32 (a max, products and a power-of-two scale), so `expectedTinyKokoroWaveform` reproduces the
 * graph's output bit for bit.
 *
 * The ONNX file is a protobuf `ModelProto`, written by hand with ./onnx-proto.ts, which keeps the test free
 * of an ONNX or protobuf dependency.
 */
import { copyFile, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  FLOAT,
  floatBytes,
  INT64,
  int64Bytes,
  ProtoWriter,
  writeInitializer,
  writeNode,
  writeValueInfo,
} from "./onnx-proto.js";

export const TINY_KOKORO_SAMPLE_RATE = 24_000;
export const TINY_KOKORO_SAMPLES_PER_TOKEN = 600;
const TONE_HZ = 440; // 11 whole periods in 600 samples, so the tiles join without a click

/** One token's worth of waveform before scaling. */
export const TINY_KOKORO_TONE = Float32Array.from({ length: TINY_KOKORO_SAMPLES_PER_TOKEN }, (_, i) =>
  Math.sin((2 * Math.PI * TONE_HZ * i) / TINY_KOKORO_SAMPLE_RATE),
);

/** The tokenizer and config of the real model (taken from its public repository, see fixtures/models/SOURCES.md). */
export const KOKORO_TEXT_FILES_DIR = fileURLToPath(
  new URL("../../fixtures/models/onnx-community/Kokoro-82M-v1.0-ONNX/", import.meta.url),
);
const KOKORO_TEXT_FILES = ["config.json", "tokenizer.json", "tokenizer_config.json"] as const;

/** Where transformers.js looks for the graph of each kokoro-js dtype (suffixes of DEFAULT_DTYPE_SUFFIX_MAPPING). */
export const TINY_KOKORO_GRAPH_FILE = "onnx/model_quantized.onnx";

/** What the tiny graph outputs for `tokenCount` input ids, the voice's style row and `speed`. */
export function expectedTinyKokoroWaveform(
  tokenCount: number,
  style: Float32Array,
  speed: number,
): Float32Array {
  let peak = 0;
  for (const value of style) peak = Math.max(peak, Math.abs(value));
  const gain = Math.fround(Math.fround(peak * speed) * 0.25);
  const waveform = new Float32Array(tokenCount * TINY_KOKORO_SAMPLES_PER_TOKEN);
  for (let i = 0; i < waveform.length; i++) {
    waveform[i] = (TINY_KOKORO_TONE[i % TINY_KOKORO_SAMPLES_PER_TOKEN] as number) * gain;
  }
  return waveform;
}

/**
 * Writes a model directory laid out as transformers.js expects for dtype q8: the real tokenizer and config
 * files plus the tiny graph at `onnx/model_quantized.onnx`. `omit` leaves files out to test load errors.
 */
export async function createTinyKokoroModelDir(
  options: { omit?: readonly string[] } = {},
): Promise<{ dir: string; remove: () => Promise<void> }> {
  const omitted = new Set(options.omit ?? []);
  const dir = await mkdtemp(join(tmpdir(), "tiny-kokoro-"));
  await mkdir(join(dir, "onnx"));
  for (const file of KOKORO_TEXT_FILES) {
    if (!omitted.has(file)) await copyFile(join(KOKORO_TEXT_FILES_DIR, file), join(dir, file));
  }
  if (!omitted.has(TINY_KOKORO_GRAPH_FILE)) {
    await writeFile(join(dir, TINY_KOKORO_GRAPH_FILE), buildTinyKokoroOnnx());
  }
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}

// ---------------------------------------------------------------------------------------------------------
// The graph
// ---------------------------------------------------------------------------------------------------------

export function buildTinyKokoroOnnx(): Uint8Array {
  const graph = new ProtoWriter();
  const nodes: Array<[op: string, inputs: string[], output: string, intAttributes?: Record<string, number>]> =
    [
      // N zeros shaped [N, 1]: the token count enters the output's shape, the token values do not.
      ["Cast", ["input_ids"], "ids_float", { to: FLOAT }],
      ["Mul", ["ids_float", "zero"], "zeros"],
      ["Reshape", ["zeros", "column_shape"], "zero_column"],
      ["Add", ["zero_column", "tone"], "tone_rows"],
      ["Abs", ["style"], "style_magnitude"],
      ["ReduceMax", ["style_magnitude"], "style_peak", { keepdims: 1 }],
      ["Mul", ["style_peak", "speed"], "peak_times_speed"],
      ["Mul", ["peak_times_speed", "quarter"], "gain"],
      ["Mul", ["tone_rows", "gain"], "scaled_rows"],
      ["Reshape", ["scaled_rows", "flat_shape"], "waveform"],
    ];
  for (const [op, inputs, output, attributes] of nodes) writeNode(graph, op, inputs, output, attributes);
  graph.string(2, "tiny_kokoro");
  writeInitializer(graph, "zero", FLOAT, [], floatBytes([0]));
  writeInitializer(graph, "quarter", FLOAT, [], floatBytes([0.25]));
  writeInitializer(graph, "tone", FLOAT, [1, TINY_KOKORO_SAMPLES_PER_TOKEN], floatBytes(TINY_KOKORO_TONE));
  writeInitializer(graph, "column_shape", INT64, [2], int64Bytes([-1, 1]));
  writeInitializer(graph, "flat_shape", INT64, [1], int64Bytes([-1]));
  writeValueInfo(graph, 11, "input_ids", INT64, [1, "sequence_length"]);
  writeValueInfo(graph, 11, "style", FLOAT, [1, 256]);
  writeValueInfo(graph, 11, "speed", FLOAT, [1]);
  writeValueInfo(graph, 12, "waveform", FLOAT, ["num_samples"]);

  const model = new ProtoWriter();
  model.varint(1, 8); // ir_version
  model.string(2, "officero-ear tests");
  model.message(7, (g) => g.append(graph));
  model.message(8, (opset) => opset.varint(2, 17));
  return model.finish();
}
