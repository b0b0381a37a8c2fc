import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { createInboundConverter, createOutboundConverter } from "../../src/audio/converters.js";
import { mulawToPcm16, pcm16ToMulaw } from "../../src/audio/mulaw.js";
import { floatToPcm16 } from "../../src/audio/pcm.js";
import { readWav } from "../../src/audio/wav.js";
import {
  chunks,
  concat,
  expectSameSamples,
  realAudio,
  snrDb,
  split,
  sweep,
  tone,
  toneAmplitude,
} from "./signals.js";

function convertOutbound(rate: number, pieces: readonly (Float32Array | Int16Array)[]): Uint8Array {
  const converter = createOutboundConverter(rate);
  return concat([...pieces.map((piece) => converter.push(piece)), converter.flush()]);
}

function convertInbound(rate: 8000 | 16000, pieces: readonly Uint8Array[]): Int16Array {
  const converter = createInboundConverter(rate);
  return concat([...pieces.map((piece) => converter.push(piece)), converter.flush()]);
}

describe("createOutboundConverter", () => {
  it.each([24000, 22050, 16000])("turns %i Hz float audio into mu-law at 8 kHz, tone intact", (rate) => {
    const mulaw = convertOutbound(rate, [tone(rate, 1000, 1.5, 0.5)]);
    expect(mulaw.length).toBe(12000);
    const decoded = Float32Array.from(mulawToPcm16(mulaw), (sample) => sample / 32768);
    // mu-law keeps the tone within its quantisation error (~1%).
    expect(toneAmplitude(decoded, 8000, 1000, 2000)).toBeCloseTo(0.5, 2);
  });

  it("gives the same bytes however the TTS audio is split", () => {
    const audio = sweep(24000, 100, 11000, 0.3);
    const whole = convertOutbound(24000, [audio]);
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 2000 }), { maxLength: 20 }), (sizes) => {
        expectSameSamples(convertOutbound(24000, split(audio, sizes)), whole);
      }),
      { numRuns: 30 },
    );
  });

  it("treats int16 input as samples / 32768, whatever the mix of int16 and float pushes", () => {
    const pcm = floatToPcm16(sweep(24000, 100, 3400, 0.5));
    const asFloat = Float32Array.from(pcm, (sample) => sample / 32768);
    const expected = convertOutbound(24000, [asFloat]);
    const pieces = chunks(pcm, 480).map((piece, i) =>
      i % 2 === 0 ? piece : asFloat.subarray(i * 480, i * 480 + 480),
    );
    expectSameSamples(convertOutbound(24000, pieces), expected);
  });

  it("passes 8 kHz audio straight to the mu-law encoder", () => {
    const pcm = floatToPcm16(tone(8000, 1000, 0.1));
    expectSameSamples(convertOutbound(8000, [pcm]), pcm16ToMulaw(pcm));
  });

  it("drops held-back audio on reset (barge-in)", () => {
    const converter = createOutboundConverter(24000);
    converter.push(tone(24000, 1000, 0.05));
    converter.reset();
    const next = tone(24000, 500, 0.1);
    expectSameSamples(concat([converter.push(next), converter.flush()]), convertOutbound(24000, [next]));
  });

  it("clips out-of-range floats instead of wrapping around", () => {
    const mulaw = convertOutbound(8000, [Float32Array.of(4, -4, 1, -1)]);
    expect(Array.from(mulawToPcm16(mulaw))).toEqual([32124, -32124, 32124, -32124]);
  });
});

describe("createInboundConverter", () => {
  const speech = readWav(realAudio("deepgram-testing-websocket.wav"));
  if (speech.format !== "mulaw") throw new Error("fixture should be mu-law");

  it("at 8 kHz is the plain mu-law decode", () => {
    const frames = chunks(speech.samples, 160);
    expectSameSamples(convertInbound(8000, frames), mulawToPcm16(speech.samples));
  });

  it("at 16 kHz gives the same samples for 160-byte frames as for the whole recording", () => {
    const whole = convertInbound(16000, [speech.samples]);
    expect(whole.length).toBe(2 * speech.samples.length);
    expectSameSamples(convertInbound(16000, chunks(speech.samples, 160)), whole);
  });

  it("at 16 kHz keeps the original samples exactly at the original instants (a time-aligned half-band filter)", () => {
    const original = mulawToPcm16(speech.samples);
    const upsampled = convertInbound(16000, chunks(speech.samples, 160));
    expectSameSamples(
      upsampled.filter((_, i) => i % 2 === 0),
      original,
    );
    // The samples in between are interpolated: near the neighbours' midpoint for speech (measured 20 dB), yet
    // not copies of a neighbour.
    const between = upsampled.filter((_, i) => i % 2 === 1);
    const midpoints = original.map((sample, i) => Math.round((sample + (original[i + 1] ?? 0)) / 2));
    expect(snrDb(midpoints, between)).toBeGreaterThanOrEqual(15);
    expect(snrDb(original, between)).toBeLessThan(15);
  });

  it("rejects other output rates", () => {
    expect(() => createInboundConverter(24000 as 16000)).toThrow(/8000 or 16000 Hz, not 24000/);
  });
});
