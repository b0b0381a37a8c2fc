import alawmulaw from "alawmulaw";
import { describe, expect, it } from "vitest";
import {
  floatToMulawSample,
  MULAW_MAX_DECODED,
  MULAW_SILENCE,
  MULAW_TO_FLOAT,
  mulawToPcm16,
  pcm16ToMulaw,
} from "../../src/audio/mulaw.js";
import { expectSameSamples } from "./signals.js";

const ALL_CODES = Uint8Array.from({ length: 256 }, (_, code) => code);
const ALL_PCM16 = Int16Array.from({ length: 65536 }, (_, i) => i - 32768);

/**
 * G.711 mu-law decoder output, from the standard's own construction: a code is transmitted with all bits
 * inverted; then bit 7 is the sign (1 = negative after inversion), bits 6-4 the segment s and bits 3-0 the step
 * q, and the output in the standard's 14-bit scale is ((2q + 33) << s) - 33. The 16-bit scale is 4 times that.
 */
function g711Decode(code: number): number {
  const inverted = ~code & 0xff;
  const segment = (inverted >> 4) & 0x07;
  const step = inverted & 0x0f;
  const magnitude = (((2 * step + 33) << segment) - 33) * 4;
  return inverted & 0x80 && magnitude !== 0 ? -magnitude : magnitude;
}

describe("mu-law decoding", () => {
  it("matches the G.711 decoder output for all 256 codes", () => {
    const decoded = mulawToPcm16(ALL_CODES);
    for (const code of ALL_CODES) expect(decoded[code], `code 0x${code.toString(16)}`).toBe(g711Decode(code));
  });

  it("gives the standard's landmark values", () => {
    const decode = (code: number) => mulawToPcm16(Uint8Array.of(code))[0];
    expect(decode(0xff)).toBe(0); // +0
    expect(decode(0x7f)).toBe(0); // -0: both zeros decode to 0 (real audio has 0x7F, fixtures/real/SOURCES.md)
    expect(decode(0x80)).toBe(8031 * 4); // largest positive, 8031 in the 14-bit scale
    expect(decode(0x00)).toBe(-8031 * 4);
    expect(decode(0xfe)).toBe(2 * 4); // smallest non-zero step: 2
    expect(decode(0xef)).toBe(33 * 4); // first value of segment 1
    expect(MULAW_MAX_DECODED).toBe(decode(0x80));
  });

  it("agrees with alawmulaw's decoder for every code (the table is built from it)", () => {
    expectSameSamples(mulawToPcm16(ALL_CODES), alawmulaw.mulaw.decode(ALL_CODES));
  });

  it("provides the float decode table as the PCM16 decode scaled by 1/32768", () => {
    const decoded = mulawToPcm16(ALL_CODES);
    for (const code of ALL_CODES)
      expect(MULAW_TO_FLOAT[code]).toBeCloseTo((decoded[code] as number) / 32768, 9);
  });

  it("writes into a caller's buffer and refuses one that is too short", () => {
    const out = new Int16Array(4).fill(7);
    expect(mulawToPcm16(Uint8Array.of(0x80, 0x00), out)).toBe(out);
    expect(Array.from(out)).toEqual([32124, -32124, 7, 7]);
    expect(() => mulawToPcm16(new Uint8Array(3), new Int16Array(2))).toThrow(RangeError);
  });
});

describe("mu-law encoding", () => {
  it("puts segment boundaries at the G.711 decision values", () => {
    // 14-bit decision values ending segments 0..7 are 31, 95, 223, 479, 991, 2015, 4063; a value just below
    // one stays in the lower segment at its top step, the value itself opens the next segment at step 0.
    const encode = (sample14bit: number) => pcm16ToMulaw(Int16Array.of(sample14bit * 4))[0] as number;
    const boundaries = [31, 95, 223, 479, 991, 2015, 4063];
    boundaries.forEach((boundary, segment) => {
      expect(~encode(boundary - 1) & 0x7f, `below ${boundary}`).toBe((segment << 4) | 0x0f);
      expect(~encode(boundary) & 0x7f, `at ${boundary}`).toBe((segment + 1) << 4);
    });
  });

  it("encodes 0 as 0xFF and -1 as 0x7F, the two zeros", () => {
    expect(Array.from(pcm16ToMulaw(Int16Array.of(0, -1)))).toEqual([0xff, 0x7f]);
    expect(MULAW_SILENCE).toBe(0xff);
  });

  it("re-encodes every decoded code to itself, except -0 which becomes +0", () => {
    const reencoded = pcm16ToMulaw(mulawToPcm16(ALL_CODES));
    for (const code of ALL_CODES) expect(reencoded[code]).toBe(code === 0x7f ? 0xff : code);
  });

  it("keeps every int16's round-trip error within half a quantisation step, and saturates beyond the range", () => {
    const roundTrip = mulawToPcm16(pcm16ToMulaw(ALL_PCM16));
    const violations: string[] = [];
    ALL_PCM16.forEach((sample, i) => {
      const decoded = roundTrip[i] as number;
      if (Math.abs(sample) > 32635) {
        // G.711 clips beyond its range (8159 in the 14-bit scale) to the extreme code.
        if (decoded !== Math.sign(sample) * MULAW_MAX_DECODED) violations.push(`${sample} -> ${decoded}`);
        return;
      }
      const segment = Math.max(0, Math.floor(Math.log2((Math.abs(decoded) + 132) / 132)));
      if (Math.abs(decoded - sample) > 4 << segment) violations.push(`${sample} -> ${decoded}`);
    });
    expect(violations).toEqual([]);
  });

  it("agrees with alawmulaw's encoder for every int16 (the table is built from it)", () => {
    expectSameSamples(pcm16ToMulaw(ALL_PCM16), alawmulaw.mulaw.encode(ALL_PCM16));
  });

  it("encodes floats as their rounded int16, clipping beyond full scale and silencing NaN", () => {
    const samples = [0.25, -0.5, 0.1234, -0.999, 1 / 32768, -0.6 / 32768];
    for (const sample of samples) {
      const asInt16 = Int16Array.of(Math.round(sample * 32768));
      expect(floatToMulawSample(sample), `${sample}`).toBe(pcm16ToMulaw(asInt16)[0]);
    }
    expect(floatToMulawSample(1.5)).toBe(0x80);
    expect(floatToMulawSample(-7)).toBe(0x00);
    expect(floatToMulawSample(Number.NaN)).toBe(MULAW_SILENCE);
  });

  it("refuses an output buffer that is too short", () => {
    expect(() => pcm16ToMulaw(new Int16Array(5), new Uint8Array(4))).toThrow(/output holds 4 samples/);
  });
});
