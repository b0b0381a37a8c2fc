/** Test signals and measurements shared by the audio tests. */
import { readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { expect } from "vitest";

const REAL_AUDIO_DIR = resolve(dirname(fileURLToPath(import.meta.url)), "../../fixtures/real/audio");

export function realAudio(name: string): Uint8Array {
  return new Uint8Array(readFileSync(resolve(REAL_AUDIO_DIR, name)));
}

/** `amplitude * sin(2*pi*frequency*t)` sampled at `rate` for `seconds`. */
export function tone(rate: number, frequency: number, seconds: number, amplitude = 0.5): Float32Array {
  const samples = new Float32Array(Math.round(rate * seconds));
  for (let i = 0; i < samples.length; i++)
    samples[i] = amplitude * Math.sin((2 * Math.PI * frequency * i) / rate);
  return samples;
}

/**
 * A linear sine sweep from `startHz` to `endHz` over `seconds`, sampled at `rate`. The phase is the analytic
 * integral of the frequency, so sampling the same sweep at another rate gives the ideal resampled signal.
 */
export function sweep(
  rate: number,
  startHz: number,
  endHz: number,
  seconds: number,
  amplitude = 0.5,
): Float32Array {
  const samples = new Float32Array(Math.round(rate * seconds));
  const chirpRate = (endHz - startHz) / seconds;
  for (let i = 0; i < samples.length; i++) {
    const t = i / rate;
    samples[i] = amplitude * Math.sin(2 * Math.PI * (startHz * t + (chirpRate * t * t) / 2));
  }
  return samples;
}

/** Signal-to-noise ratio in dB of `test` against `reference`, over [from, to). Infinity when identical. */
export function snrDb(
  reference: ArrayLike<number>,
  test: ArrayLike<number>,
  from = 0,
  to = reference.length,
): number {
  let signal = 0;
  let noise = 0;
  for (let i = from; i < to; i++) {
    const r = reference[i] as number;
    const d = r - (test[i] as number);
    signal += r * r;
    noise += d * d;
  }
  return 10 * Math.log10(signal / noise);
}

/** RMS level in dB (re full scale 1.0) over [from, to). */
export function rmsDb(samples: ArrayLike<number>, from = 0, to = samples.length): number {
  let sum = 0;
  for (let i = from; i < to; i++) sum += (samples[i] as number) ** 2;
  return 10 * Math.log10(sum / (to - from));
}

/**
 * Amplitude of the `frequency` component over [from, from + rate) — one second, so every integer frequency has
 * a whole number of cycles and a single DFT bin measures it without leakage.
 */
export function toneAmplitude(
  samples: ArrayLike<number>,
  rate: number,
  frequency: number,
  from: number,
): number {
  let re = 0;
  let im = 0;
  for (let i = 0; i < rate; i++) {
    const angle = (2 * Math.PI * frequency * i) / rate;
    const value = samples[from + i] as number;
    re += value * Math.cos(angle);
    im -= value * Math.sin(angle);
  }
  return (2 * Math.hypot(re, im)) / rate;
}

export function concat<T extends Float32Array | Int16Array | Uint8Array>(parts: readonly T[]): T {
  const first = parts[0];
  if (first === undefined) throw new Error("concat needs at least one part");
  const total = parts.reduce((length, part) => length + part.length, 0);
  const out = new (first.constructor as new (length: number) => T)(total);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/** Splits `samples` into consecutive pieces of the given sizes (the last piece takes whatever remains). */
export function split<T extends Float32Array | Int16Array | Uint8Array>(
  samples: T,
  sizes: readonly number[],
): T[] {
  const pieces: T[] = [];
  let offset = 0;
  for (const size of sizes) {
    if (offset >= samples.length) break;
    pieces.push(samples.subarray(offset, offset + size) as T);
    offset += size;
  }
  if (offset < samples.length) pieces.push(samples.subarray(offset) as T);
  return pieces;
}

/** Splits `samples` into pieces of `size` (the last may be shorter). */
export function chunks<T extends Float32Array | Int16Array | Uint8Array>(samples: T, size: number): T[] {
  return split(samples, new Array<number>(Math.ceil(samples.length / size)).fill(size));
}

/**
 * Asserts two sample arrays are identical. Much faster than toEqual on long arrays, and on failure names the
 * first differing index instead of printing hundreds of thousands of samples.
 */
export function expectSameSamples(actual: ArrayLike<number>, expected: ArrayLike<number>): void {
  let mismatch = -1;
  for (let i = 0; i < Math.min(actual.length, expected.length); i++) {
    if (actual[i] !== expected[i]) {
      mismatch = i;
      break;
    }
  }
  const found = mismatch === -1 ? "none" : `index ${mismatch}: ${actual[mismatch]} vs ${expected[mismatch]}`;
  expect({ length: actual.length, firstDifference: found }).toEqual({
    length: expected.length,
    firstDifference: "none",
  });
}
