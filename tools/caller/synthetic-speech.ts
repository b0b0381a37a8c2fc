/**
 * Speech made on the spot for trying the agent without recordings: Debian's `espeak-ng` when it is
 * installed (robotic, but words a person can follow), otherwise a tone pattern with the rhythm of the text
 * (one burst per word, pauses at punctuation), which is still loud where words are and silent between
 * sentences, so voice-activity detection and turn-taking behave as with speech.
 */
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { floatToPcm16, pcm16ToFloat } from "../../src/audio/pcm.js";
import { StreamingResampler } from "../../src/audio/resampler.js";
import { readWav } from "../../src/audio/wav.js";

const run = promisify(execFile);

export type SyntheticVoice = "espeak-ng" | "tones";

export interface SyntheticSpeech {
  samples: Int16Array;
  sampleRate: number;
  voice: SyntheticVoice;
}

let espeakChecked: Promise<boolean> | undefined;

/** Whether `espeak-ng` runs here (checked once). */
export function hasEspeakNg(): Promise<boolean> {
  espeakChecked ??= run("espeak-ng", ["--version"]).then(
    () => true,
    () => false,
  );
  return espeakChecked;
}

/** Mono 16-bit speech of `text` at `sampleRate`, with espeak-ng when available (or asked), else tones. */
export async function synthesizeSpeech(
  text: string,
  options: { sampleRate: number; voice?: SyntheticVoice },
): Promise<SyntheticSpeech> {
  const voice = options.voice ?? ((await hasEspeakNg()) ? "espeak-ng" : "tones");
  const samples =
    voice === "espeak-ng" ? await espeak(text, options.sampleRate) : toneSpeech(text, options.sampleRate);
  return { samples, sampleRate: options.sampleRate, voice };
}

async function espeak(text: string, sampleRate: number): Promise<Int16Array> {
  // `--stdout` writes a header with a placeholder length; a file gets the real one.
  const dir = await mkdtemp(join(tmpdir(), "espeak-"));
  try {
    const file = join(dir, "speech.wav");
    await run("espeak-ng", ["-v", "en-us", "-s", "165", "-w", file, "--", text]);
    const wav = readWav(await readFile(file));
    if (wav.format !== "pcm16" || wav.channels !== 1) {
      throw new Error(`espeak-ng wrote ${wav.format} with ${wav.channels} channels, not 16-bit mono`);
    }
    return resample(wav.samples, wav.sampleRate, sampleRate);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function resample(samples: Int16Array, from: number, to: number): Int16Array {
  if (from === to) return samples;
  const resampler = new StreamingResampler(from, to);
  const head = resampler.process(pcm16ToFloat(samples));
  const tail = resampler.flush();
  const joined = new Float32Array(head.length + tail.length);
  joined.set(head);
  joined.set(tail, head.length);
  return floatToPcm16(joined);
}

const WORD_BASE_MS = 90;
const MS_PER_LETTER = 35;
const GAP_MS = 70;
const PAUSE_MS = { ",": 200, ".": 350, "?": 350, "!": 350 } as Record<string, number>;

/**
 * One tone burst per word, longer for longer words, its pitch gliding like an intonation contour, with a
 * short gap between words and longer pauses after punctuation.
 */
export function toneSpeech(text: string, sampleRate: number): Int16Array {
  const tokens = text.match(/[^\s,.?!]+|[,.?!]/g) ?? [];
  const pieces: { ms: number; pitch?: number }[] = [];
  let word = 0;
  for (const token of tokens) {
    const pause = PAUSE_MS[token];
    if (pause !== undefined) {
      pieces.push({ ms: pause });
      continue;
    }
    pieces.push({ ms: WORD_BASE_MS + MS_PER_LETTER * token.length, pitch: 160 + 40 * Math.sin(word++) });
    pieces.push({ ms: GAP_MS });
  }
  const total = pieces.reduce((sum, piece) => sum + Math.round((piece.ms / 1000) * sampleRate), 0);
  const out = new Int16Array(total);
  let offset = 0;
  for (const piece of pieces) {
    const length = Math.round((piece.ms / 1000) * sampleRate);
    if (piece.pitch !== undefined) {
      let phase = 0;
      for (let i = 0; i < length; i++) {
        const progress = i / length;
        const pitch = piece.pitch * (1.1 - 0.2 * progress);
        phase += (2 * Math.PI * pitch) / sampleRate;
        // A fundamental with two harmonics sounds voice-like; the sine envelope avoids clicks.
        const tone = Math.sin(phase) + 0.5 * Math.sin(2 * phase) + 0.25 * Math.sin(3 * phase);
        out[offset + i] = Math.round(7000 * Math.sin(Math.PI * progress) * tone);
      }
    }
    offset += length;
  }
  return out;
}
