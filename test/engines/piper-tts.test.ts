/**
 * Piper in process through sherpa-onnx-node's real loading and synthesis path: the voice's files are found
 * as sherpa-onnx's releases lay them out, sherpa-onnx reads the model's metadata (rate, Piper front end),
 * phonemizes with espeak-ng (data from Debian's espeak-ng-data package, which .ci/run installs) and runs
 * the graph. Only the graph is a stand-in (test/fakes/tiny-piper-voice.ts): it speaks a tone of 256
 * samples per phoneme id at `length_scale / 2`, so the mulaw can be checked exactly against a direct
 * conversion of what the graph must have produced.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EngineError } from "../../machines/engines.js";
import { createOutboundConverter } from "../../src/audio/converters.js";
import { MULAW_TO_FLOAT } from "../../src/audio/mulaw.js";
import { systemEspeakDataDirs } from "../../src/engines/piper/voice-files.js";
import { loadPiperTts, PIPER_DEFAULT_VOICE_PATH, type PiperTts } from "../../src/engines/piper-tts.js";
import { DEFAULT_CHOICES, DEFAULT_MODELS_DIR, describeModel } from "../../src/models/model-catalog.js";
import {
  createTinyPiperVoice,
  TINY_PIPER_SAMPLE_RATE,
  TINY_PIPER_SAMPLES_PER_TOKEN,
  type TinyPiperVoice,
  tinyPiperPeak,
  tinyPiperWaveform,
} from "../fakes/tiny-piper-voice.js";

const DEBIAN_ESPEAK_DATA = systemEspeakDataDirs()[0] as string;
const LENGTH_SCALE = 1.5;

let voice: TinyPiperVoice;
let tts: PiperTts;

beforeAll(async () => {
  // The voice ships its own espeak-ng-data/, as sherpa-onnx's releases do (here a link to Debian's copy).
  voice = await createTinyPiperVoice({ espeakDataDir: DEBIAN_ESPEAK_DATA });
  tts = await loadPiperTts({ voicePath: voice.modelPath, lengthScale: LENGTH_SCALE });
});
afterAll(async () => {
  await voice.remove();
});

describe("Piper in process: speech", () => {
  it("reads the voice's rate from the model and speaks the graph's exact audio as 8 kHz mulaw", async () => {
    expect(tts.sampleRate).toBe(TINY_PIPER_SAMPLE_RATE);

    const mulaw = Buffer.concat(
      await collect(tts.synthesize("Hello there.", { callId: "CA1", signal: live() })),
    );

    // The graph emitted a whole number of 256-sample tiles, one per phoneme id espeak-ng produced.
    const ids = Math.round((mulaw.length * TINY_PIPER_SAMPLE_RATE) / 8000 / TINY_PIPER_SAMPLES_PER_TOKEN);
    expect(ids).toBeGreaterThan(8);
    expect(mulaw).toEqual(Buffer.from(directMulaw(tinyPiperWaveform(ids, LENGTH_SCALE))));
    // The level proves sherpa-onnx passed the configured length scale to the model.
    expect(peak(mulaw)).toBeCloseTo(tinyPiperPeak(LENGTH_SCALE), 1);
  });

  it("yields each sentence as it is synthesised, and more words make more audio", async () => {
    const short = await collect(tts.synthesize("Yes.", { callId: "CA1", signal: live() }));
    const long = await collect(
      tts.synthesize("Yes. Your table for four is booked at eight tonight.", {
        callId: "CA1",
        signal: live(),
      }),
    );

    expect(long.length).toBeGreaterThan(1);
    expect(Buffer.concat(long).length).toBeGreaterThan(3 * Buffer.concat(short).length);
  });

  it("falls back to Debian's espeak-ng data when the voice has none of its own", async () => {
    const bare = await createTinyPiperVoice();
    try {
      const engine = await loadPiperTts({ voicePath: bare.modelPath, warmUpText: "Hi." });
      const mulaw = Buffer.concat(
        await collect(engine.synthesize("Good morning.", { callId: "CA1", signal: live() })),
      );
      expect(mulaw.length).toBeGreaterThan(0);
      expect(peak(mulaw)).toBeCloseTo(tinyPiperPeak(1), 1);
    } finally {
      await bare.remove();
    }
  });
});

describe("Piper in process: stopping", () => {
  it("refuses an already aborted signal", async () => {
    const controller = new AbortController();
    controller.abort();
    await expect(
      collect(tts.synthesize("Hello.", { callId: "CA1", signal: controller.signal })),
    ).rejects.toMatchObject({ engine: "tts", kind: "aborted" });
  });

  it("stops mid-segment when the signal aborts after the first sentence, and the voice is free again", async () => {
    const controller = new AbortController();
    const speech = tts
      .synthesize("One. Two two. Three three three. Four four four four. Five five five five five.", {
        callId: "CA1",
        signal: controller.signal,
      })
      [Symbol.asyncIterator]();

    const first = await speech.next();
    expect(first.done).toBe(false);
    controller.abort();

    await expect(speech.next()).rejects.toMatchObject({ engine: "tts", kind: "aborted" });
    await waitFor(() => tts.queue.running === 0);
    const after = await collect(tts.synthesize("Still here.", { callId: "CA2", signal: live() }));
    expect(after.length).toBeGreaterThan(0);
  });
});

describe("Piper in process: missing files", () => {
  it("without PIPER_VOICE uses the voice the models command downloads, at the path it prints", () => {
    const piper = describeModel("piper", DEFAULT_CHOICES);
    expect(piper.envLine(DEFAULT_MODELS_DIR)).toBe(`PIPER_VOICE=${PIPER_DEFAULT_VOICE_PATH}`);
    expect(PIPER_DEFAULT_VOICE_PATH).toMatch(
      /models\/vits-piper-en_US-lessac-medium\/en_US-lessac-medium\.onnx$/,
    );
  });

  it("names PIPER_VOICE and the models command when the voice file is missing", async () => {
    const missing = await createTinyPiperVoice({ omit: ["model"] });
    try {
      const error = await loadFailure({ voicePath: missing.modelPath });
      expect(error).toMatchObject({ engine: "tts", kind: "connect" });
      expect(error.message).toContain(`PIPER_VOICE ${missing.modelPath} is not a file`);
      expect(error.message).toContain("npm run models -- download piper");
    } finally {
      await missing.remove();
    }
  });

  it("names tokens.txt when the voice came without it (e.g. straight from rhasspy/piper-voices)", async () => {
    const noTokens = await createTinyPiperVoice({ omit: ["tokens.txt"] });
    try {
      const error = await loadFailure({ voicePath: noTokens.modelPath });
      expect(error.message).toContain("has no tokens.txt beside it");
      expect(error.message).toContain("npm run models -- download piper");
    } finally {
      await noTokens.remove();
    }
  });

  it("refuses a voice with no espeak-ng data anywhere before sherpa-onnx could exit the process", async () => {
    const bare = await createTinyPiperVoice();
    try {
      const error = await loadFailure({ voicePath: bare.modelPath, systemEspeakDataDirs: [] });
      expect(error.message).toContain("has no espeak-ng data");
      expect(error.message).toContain("apt-get install espeak-ng-data");
      expect(error.message).toContain("npm run models -- download piper");
    } finally {
      await bare.remove();
    }
  });

  it("reports a damaged model file as a load failure naming the file", async () => {
    const damaged = await createTinyPiperVoice({ espeakDataDir: DEBIAN_ESPEAK_DATA, damagedModel: true });
    try {
      const error = await loadFailure({ voicePath: damaged.modelPath });
      expect(error).toMatchObject({ kind: "connect" });
      expect(error.message).toMatch(
        new RegExp(`^Piper voice ${damaged.modelPath} failed to load: .*Protobuf`),
      );
    } finally {
      await damaged.remove();
    }
  });
});

function directMulaw(samples: Float32Array): Uint8Array {
  const converter = createOutboundConverter(TINY_PIPER_SAMPLE_RATE);
  return Buffer.concat([converter.push(samples), converter.flush()]);
}

function peak(mulaw: Uint8Array): number {
  let max = 0;
  for (const byte of mulaw) max = Math.max(max, Math.abs(MULAW_TO_FLOAT[byte] as number));
  return max;
}

async function loadFailure(options: Parameters<typeof loadPiperTts>[0]): Promise<EngineError> {
  try {
    await loadPiperTts(options);
  } catch (error) {
    if (error instanceof EngineError) return error;
    throw error;
  }
  throw new Error("expected the voice to fail to load");
}

function live(): AbortSignal {
  return new AbortController().signal;
}

async function collect(pieces: AsyncIterable<Uint8Array>): Promise<Uint8Array[]> {
  const out: Uint8Array[] = [];
  for await (const piece of pieces) out.push(piece);
  return out;
}

async function waitFor(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((resolve) => setImmediate(resolve));
}
