import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { StreamingResampler } from "../../src/audio/resampler.js";
import {
  chunks,
  concat,
  expectSameSamples,
  rmsDb,
  snrDb,
  split,
  sweep,
  tone,
  toneAmplitude,
} from "./signals.js";

const RATIOS = [
  { from: 24000, to: 8000, use: "Kokoro / OpenAI PCM to telephony" },
  { from: 22050, to: 8000, use: "Piper to telephony" },
  { from: 8000, to: 16000, use: "telephony to Whisper / linear16 STT" },
] as const;

function resampleWhole(from: number, to: number, input: Float32Array): Float32Array {
  const resampler = new StreamingResampler(from, to);
  return concat([resampler.process(input), resampler.flush()]);
}

function resamplePieces(from: number, to: number, pieces: readonly Float32Array[]): Float32Array {
  const resampler = new StreamingResampler(from, to);
  return concat([...pieces.map((piece) => resampler.process(piece)), resampler.flush()]);
}

describe.each(RATIOS)("StreamingResampler $from -> $to Hz ($use)", ({ from, to }) => {
  const lowerNyquist = Math.min(from, to) / 2;

  it("in 20 ms pieces gives the same output as in one piece: SNR = infinity (bit-identical; required >= 60 dB)", () => {
    // The sweep crosses the whole input band, stopband included, so every part of the filter is exercised.
    const input = sweep(from, 50, 0.45 * from, 2);
    const whole = resampleWhole(from, to, input);
    const pieced = resamplePieces(from, to, chunks(input, Math.round(from * 0.02)));
    expect(pieced.length).toBe(whole.length);
    expect(snrDb(whole, pieced)).toBeGreaterThanOrEqual(60);
    expectSameSamples(pieced, whole);
  });

  it("gives the same output for any split of the input, empty and 1-sample pieces included", () => {
    const input = sweep(from, 100, 3000, 0.1);
    const whole = resampleWhole(from, to, input);
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 700 }), { maxLength: 40 }), (sizes) => {
        const pieced = resamplePieces(from, to, split(input, sizes));
        expectSameSamples(pieced, whole);
      }),
      { numRuns: 40 },
    );
  });

  it("matches the analytically sampled sweep at the output rate: >= 60 dB SNR in the telephone band", () => {
    // A 100 Hz -> 3.4 kHz sweep resampled must equal the same sweep sampled directly at the output rate, which
    // also proves the output is time-aligned with the input (no filter delay left in).
    const seconds = 2;
    const output = resampleWhole(from, to, sweep(from, 100, 3400, seconds));
    const ideal = sweep(to, 100, 3400, seconds);
    expect(output.length).toBe(ideal.length);
    const edge = Math.round(to * 0.02); // the sweep starts and stops abruptly: skip the filter's ring-in/out
    expect(snrDb(ideal, output, edge, ideal.length - edge)).toBeGreaterThanOrEqual(60);
  });

  it("is flat (+-0.1 dB) across the telephone band 300-3400 Hz", () => {
    for (const frequency of [300, 1000, 2000, 3000, 3400]) {
      const output = resampleWhole(from, to, tone(from, frequency, 1.5));
      const gainDb = 20 * Math.log10(toneAmplitude(output, to, frequency, Math.round(to * 0.25)) / 0.5);
      expect(Math.abs(gainDb), `${frequency} Hz`).toBeLessThanOrEqual(0.1);
    }
  });

  it("keeps DC exact (every polyphase branch has unity gain)", () => {
    const output = resampleWhole(from, to, new Float32Array(from).fill(0.5));
    const steady = output.subarray(Math.round(to * 0.1), Math.round(to * 0.9));
    for (const sample of steady) expect(sample).toBeCloseTo(0.5, 5);
  });

  it("attenuates everything from 1.15 x the lower Nyquist frequency up by >= 60 dB", () => {
    // Downsampling: such tones would alias into the band. Upsampling: their images would appear above it.
    const frequencies = from > to ? [1.15 * lowerNyquist, 1.5 * lowerNyquist, 0.45 * from] : [1000, 3000];
    for (const frequency of frequencies) {
      const output = resampleWhole(from, to, tone(from, frequency, 1.5));
      const unwanted =
        from > to ? rmsDb(output, 2000, output.length - 2000) : imageLevelDb(output, to, frequency, from);
      expect(unwanted - rmsDb(tone(from, frequency, 1)), `${frequency} Hz`).toBeLessThanOrEqual(-60);
    }
  });

  it("returns ceil(n * to / from) samples in total and starts a fresh stream after flush", () => {
    const resampler = new StreamingResampler(from, to);
    for (const length of [1, 441, 1000, 4801]) {
      const input = tone(from, 440, length / from);
      const output = concat([resampler.process(input), resampler.flush()]);
      expect(output.length).toBe(Math.ceil((input.length * to) / from));
      expectSameSamples(output, resampleWhole(from, to, input));
    }
  });

  it("forgets the stream on reset", () => {
    const resampler = new StreamingResampler(from, to);
    resampler.process(tone(from, 1000, 0.05));
    resampler.reset();
    const input = tone(from, 700, 0.1);
    expectSameSamples(concat([resampler.process(input), resampler.flush()]), resampleWhole(from, to, input));
  });

  it("announces output lengths: outputLengthFor exactly, maxOutputLength as an upper bound", () => {
    const resampler = new StreamingResampler(from, to);
    const out = new Float32Array(resampler.maxOutputLength(480));
    for (const piece of chunks(tone(from, 500, 0.2), 480)) {
      const expected = resampler.outputLengthFor(piece.length);
      expect(expected).toBeLessThanOrEqual(resampler.maxOutputLength(piece.length));
      expect(resampler.processInto(piece, out)).toBe(expected);
    }
    expect(() => resampler.processInto(new Float32Array(4800), new Float32Array(1))).toThrow(RangeError);
  });
});

/** Level of the first image of a `frequency` tone after upsampling to `rate` (at rate_in - frequency). */
function imageLevelDb(output: Float32Array, rate: number, frequency: number, inputRate: number): number {
  const amplitude = toneAmplitude(output, rate, inputRate - frequency, Math.round(rate * 0.25));
  return 20 * Math.log10(amplitude / Math.SQRT2);
}

describe("StreamingResampler anti-aliasing, 24 kHz -> 8 kHz", () => {
  it("attenuates a 6 kHz tone (which would alias to 2 kHz) by >= 40 dB: measured about 80 dB", () => {
    const input = tone(24000, 6000, 1.5);
    const output = resampleWhole(24000, 8000, input);
    const attenuation = rmsDb(input) - rmsDb(output, 2000, output.length - 2000);
    expect(attenuation).toBeGreaterThanOrEqual(40);
    expect(toneAmplitude(output, 8000, 2000, 2000)).toBeLessThan(0.5 * 10 ** (-40 / 20));
  });
});

describe("StreamingResampler construction", () => {
  it("passes audio through untouched when the rates are equal", () => {
    const resampler = new StreamingResampler(8000, 8000);
    const input = tone(8000, 1000, 0.02);
    expectSameSamples(resampler.process(input), input);
    expect(resampler.flush().length).toBe(0);
  });

  it("handles other rational ratios, e.g. 44.1 kHz -> 16 kHz", () => {
    const output = resampleWhole(44100, 16000, tone(44100, 1000, 1.5));
    expect(toneAmplitude(output, 16000, 1000, 4000)).toBeCloseTo(0.5, 3);
  });

  it("rejects rates that are not positive integers", () => {
    for (const rate of [0, -8000, 8000.5, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(() => new StreamingResampler(rate, 8000), String(rate)).toThrow(
        /fromRate must be a positive integer/,
      );
      expect(() => new StreamingResampler(8000, rate), String(rate)).toThrow(
        /toRate must be a positive integer/,
      );
    }
  });

  it("rejects ratios that would need an absurdly long filter", () => {
    expect(() => new StreamingResampler(8000, 7999)).toThrow(/7999\/8000.*filter taps/);
  });
});
