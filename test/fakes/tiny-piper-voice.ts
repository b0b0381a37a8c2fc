/**
 * A stand-in for a Piper voice as sherpa-onnx repackages it (vits-piper-<voice>/: `<voice>.onnx`,
 * `tokens.txt`, optionally `espeak-ng-data/`), built in the test so sherpa-onnx-node's real Piper path runs
 * (metadata, espeak-ng phonemizer, token ids, VITS run) without the 61 MB weights, which cannot be fetched.
 *
 * The graph has the Piper export's signature, as sherpa-onnx feeds it (RunVitsPiperOrCoqui):
 *   x int64 [1, N]   x_length int64 [1]   scales float32 [3] = (noise, length, noise_w)   ->   y float32 [1, 1, T]
 * and computes, for every token id, 256 samples of a tone scaled by `length_scale / 2`. So the audio's
 * length proves how many ids the phonemizer produced (more words, more audio) and its level proves the
 * length scale sherpa-onnx passed. The model metadata is what sherpa-onnx reads from a real Piper voice.
 */
import { mkdir, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
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

export const TINY_PIPER_SAMPLE_RATE = 22_050;
export const TINY_PIPER_SAMPLES_PER_TOKEN = 256;
export const TINY_PIPER_VOICE_NAME = "en_US-tiny-medium";

/** Five whole periods in 256 samples (about 431 Hz), so the tiles join without a click. */
const TONE = Float32Array.from({ length: TINY_PIPER_SAMPLES_PER_TOKEN }, (_, i) =>
  Math.sin((2 * Math.PI * 5 * i) / TINY_PIPER_SAMPLES_PER_TOKEN),
);

/** The peak level of the tiny voice's audio for a length scale: the tone is scaled by `lengthScale / 2`. */
export function tinyPiperPeak(lengthScale: number): number {
  return lengthScale / 2;
}

/** What the graph outputs for `ids` phoneme ids, computed as the graph does it (float32, same order). */
export function tinyPiperWaveform(ids: number, lengthScale: number): Float32Array {
  const scale = Math.fround(lengthScale);
  const waveform = new Float32Array(ids * TINY_PIPER_SAMPLES_PER_TOKEN);
  for (let i = 0; i < waveform.length; i++) {
    waveform[i] = Math.fround(Math.fround((TONE[i % TINY_PIPER_SAMPLES_PER_TOKEN] as number) * scale) * 0.5);
  }
  return waveform;
}

/**
 * Piper's phoneme symbols: pad, bos, eos, space, punctuation and the IPA letters espeak-ng produces for
 * English, one code point each, numbered in order as a real voice's tokens.txt is.
 */
const SYMBOLS = [
  "_",
  "^",
  "$",
  " ",
  ..."!'(),-.:;?",
  ..."abcdefghijklmnopqrstuvwxyz",
  ..."æçðøħŋœɐɑɒɓɔɕɖɗɘəɚɛɜɞɟɠɡɢɣɤɥɦɧɨɪɫɬɭɮɯɰɱɲɳɴɵɶɸɹɺɻɽɾʀʁʂʃʄʈʉʊʋʌʍʎʏʐʑʒʔʕʘʙʛʜʝʟʡʢʲˈˌːˑ˞βθχᵻⱱ",
];

function tokensTxt(): string {
  // A space token is written as " 3": sherpa-onnx reads a line holding only an id as the space symbol.
  return `${SYMBOLS.map((symbol, id) => (symbol === " " ? ` ${id}` : `${symbol} ${id}`)).join("\n")}\n`;
}

export interface TinyPiperVoice {
  dir: string;
  /** What PIPER_VOICE points at. */
  modelPath: string;
  remove(): Promise<void>;
}

/**
 * Writes `vits-piper-<name>/` with the tiny graph and tokens.txt. `espeakDataDir` is linked in as
 * `espeak-ng-data/` (as the voice's release ships it); without it the voice has none, as a voice whose data
 * comes from the system package. `omit` and `damagedModel` break the voice to test load errors.
 */
export async function createTinyPiperVoice(
  options: {
    espeakDataDir?: string;
    omit?: ReadonlyArray<"model" | "tokens.txt">;
    /** Write bytes that are not an ONNX model in place of the graph. */
    damagedModel?: boolean;
  } = {},
): Promise<TinyPiperVoice> {
  const root = await mkdtemp(join(tmpdir(), "tiny-piper-"));
  const dir = join(root, `vits-piper-${TINY_PIPER_VOICE_NAME}`);
  await mkdir(dir);
  const modelPath = join(dir, `${TINY_PIPER_VOICE_NAME}.onnx`);
  const omitted = new Set(options.omit ?? []);
  if (!omitted.has("model")) {
    await writeFile(modelPath, options.damagedModel ? "not an onnx model" : buildTinyPiperOnnx());
  }
  if (!omitted.has("tokens.txt")) await writeFile(join(dir, "tokens.txt"), tokensTxt());
  if (options.espeakDataDir !== undefined) await symlink(options.espeakDataDir, join(dir, "espeak-ng-data"));
  return { dir, modelPath, remove: () => rm(root, { recursive: true, force: true }) };
}

export function buildTinyPiperOnnx(): Uint8Array {
  const graph = new ProtoWriter();
  const nodes: Array<[op: string, inputs: string[], output: string, intAttributes?: Record<string, number>]> =
    [
      // N zeros shaped [N, 1]: the token count enters the output's shape, the token values do not.
      ["Cast", ["x"], "x_float", { to: FLOAT }],
      ["Mul", ["x_float", "zero"], "zeros"],
      ["Reshape", ["zeros", "column_shape"], "zero_column"],
      ["Add", ["zero_column", "tone"], "tone_rows"],
      // length_scale = sum(scales * [0, 1, 0])
      ["Mul", ["scales", "length_mask"], "masked_scales"],
      ["ReduceSum", ["masked_scales"], "length_scale", { keepdims: 1 }],
      ["Mul", ["tone_rows", "length_scale"], "scaled_rows"],
      ["Mul", ["scaled_rows", "half"], "level_rows"],
      ["Reshape", ["level_rows", "output_shape"], "y"],
    ];
  for (const [op, inputs, output, attributes] of nodes) writeNode(graph, op, inputs, output, attributes);
  graph.string(2, "tiny_piper");
  writeInitializer(graph, "zero", FLOAT, [], floatBytes([0]));
  writeInitializer(graph, "half", FLOAT, [], floatBytes([0.5]));
  writeInitializer(graph, "length_mask", FLOAT, [3], floatBytes([0, 1, 0]));
  writeInitializer(graph, "tone", FLOAT, [1, TINY_PIPER_SAMPLES_PER_TOKEN], floatBytes(TONE));
  writeInitializer(graph, "column_shape", INT64, [2], int64Bytes([-1, 1]));
  writeInitializer(graph, "output_shape", INT64, [3], int64Bytes([1, 1, -1]));
  writeValueInfo(graph, 11, "x", INT64, [1, "phonemes"]);
  writeValueInfo(graph, 11, "x_length", INT64, [1]);
  writeValueInfo(graph, 11, "scales", FLOAT, [3]);
  writeValueInfo(graph, 12, "y", FLOAT, [1, 1, "time"]);

  const model = new ProtoWriter();
  model.varint(1, 8); // ir_version
  model.string(2, "officero-ear tests");
  model.message(7, (g) => g.append(graph));
  model.message(8, (opset) => opset.varint(2, 17));
  // metadata_props, as sherpa-onnx's export script writes them into a Piper voice.
  const metadata: Record<string, string> = {
    model_type: "vits",
    comment: "piper",
    language: "English",
    voice: "en-us",
    has_espeak: "1",
    n_speakers: "1",
    sample_rate: String(TINY_PIPER_SAMPLE_RATE),
  };
  for (const [key, value] of Object.entries(metadata)) {
    model.message(14, (entry) => {
      entry.string(1, key);
      entry.string(2, value);
    });
  }
  return model.finish();
}
