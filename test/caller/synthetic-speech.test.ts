import { describe, expect, it } from "vitest";
import { synthesizeSpeech, toneSpeech } from "../../tools/caller/synthetic-speech.js";

const rmsOf = (samples: Int16Array, from: number, to: number) => {
  let sum = 0;
  for (let i = from; i < to; i++) sum += (samples[i] as number) ** 2;
  return Math.sqrt(sum / (to - from));
};

describe("synthetic speech", () => {
  it("tones: one loud burst per word, silence in the gaps, longer for longer text", () => {
    const rate = 8000;
    const short = toneSpeech("Hi there.", rate);
    const long = toneSpeech("Hi there, I have a breaker that keeps tripping.", rate);
    expect(long.length).toBeGreaterThan(short.length * 3);
    // "Hi" is 90 + 2 * 35 = 160 ms of tone, then a 70 ms gap.
    expect(rmsOf(short, 0.04 * rate, 0.12 * rate)).toBeGreaterThan(2000);
    expect(rmsOf(short, 0.165 * rate, 0.225 * rate)).toBe(0);
  });

  it("tones for an empty text are empty", () => {
    expect(toneSpeech("", 24_000)).toHaveLength(0);
  });

  it("gives audible speech at the asked rate, whichever voice this machine has", async () => {
    const speech = await synthesizeSpeech("Thanks for calling", { sampleRate: 24_000 });
    expect(["espeak-ng", "tones"]).toContain(speech.voice);
    expect(speech.sampleRate).toBe(24_000);
    expect(speech.samples.length).toBeGreaterThan(0.5 * 24_000);
    expect(rmsOf(speech.samples, 0, speech.samples.length)).toBeGreaterThan(500);
  });
});
