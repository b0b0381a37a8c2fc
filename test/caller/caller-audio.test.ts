import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { mulawToPcm16 } from "../../src/audio/mulaw.js";
import { readWav, writeWav } from "../../src/audio/wav.js";
import { CallerError, callerAudioFromWav, loadCallerAudio } from "../../tools/caller/index.js";

const AUDIO = join(dirname(fileURLToPath(import.meta.url)), "../../fixtures/real/audio");

const rms = (samples: Int16Array) => Math.sqrt(samples.reduce((sum, s) => sum + s * s, 0) / samples.length);

async function codeOf(promise: Promise<unknown>): Promise<string | undefined> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof CallerError) return `${error.code}: ${error.message}`;
    throw error;
  }
  return undefined;
}

describe("caller audio", () => {
  it("takes mu-law 8 kHz mono as it is", async () => {
    const path = join(AUDIO, "speechcommands-yes_1000ms-8k-mulaw.wav");
    const utterance = await loadCallerAudio(path);
    expect(utterance.name).toBe("speechcommands-yes_1000ms-8k-mulaw.wav");
    const { readFile } = await import("node:fs/promises");
    expect(utterance.mulaw).toEqual((readWav(await readFile(path)) as { samples: Uint8Array }).samples);
  });

  it("resamples real 16 kHz PCM speech to mu-law 8 kHz of the same length and loudness", async () => {
    const converted = await loadCallerAudio(join(AUDIO, "speechcommands-yes_1000ms.wav"));
    const reference = await loadCallerAudio(join(AUDIO, "speechcommands-yes_1000ms-8k-mulaw.wav"));
    expect(converted.mulaw.length).toBe(8000);
    const ratio = rms(mulawToPcm16(converted.mulaw)) / rms(mulawToPcm16(reference.mulaw));
    expect(ratio).toBeGreaterThan(0.9);
    expect(ratio).toBeLessThan(1.1);
  });

  it("mixes stereo down to mono", () => {
    // Left a constant, right silence: the mono mix is half the constant.
    const samples = new Int16Array(2 * 800);
    for (let i = 0; i < 800; i++) samples[2 * i] = 8000;
    const utterance = callerAudioFromWav(
      writeWav({ sampleRate: 8000, channels: 2, format: "pcm16", samples }),
      "s",
    );
    const decoded = mulawToPcm16(utterance.mulaw);
    expect(decoded).toHaveLength(800);
    expect(Math.abs((decoded[400] as number) - 4000)).toBeLessThan(200);
  });

  it("refuses a file that is not a WAV, an empty one, and a missing one, naming the file", async () => {
    const dir = await mkdtemp(join(tmpdir(), "caller-audio-"));
    await writeFile(join(dir, "notes.wav"), "this is text");
    await writeFile(
      join(dir, "empty.wav"),
      writeWav({ sampleRate: 8000, channels: 1, format: "pcm16", samples: new Int16Array(0) }),
    );

    expect(await codeOf(loadCallerAudio(join(dir, "notes.wav")))).toMatch(
      /^bad-audio: caller audio notes.wav is unusable: not a WAV file/,
    );
    expect(await codeOf(loadCallerAudio(join(dir, "empty.wav")))).toMatch(
      /^bad-audio: caller audio empty.wav holds no samples/,
    );
    expect(await codeOf(loadCallerAudio(join(dir, "absent.wav")))).toMatch(
      /^bad-audio: cannot read caller audio .*absent.wav: no such file/,
    );
  });
});
