import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { readWav, type WavAudio, WavFormatError, writeWav } from "../../src/audio/wav.js";
import { expectSameSamples, realAudio } from "./signals.js";

/** Assembles a RIFF/WAVE file from raw chunks (bodies padded to even length, as the format requires). */
function riff(...chunks: readonly [id: string, body: Uint8Array, declaredSize?: number][]): Uint8Array {
  const parts: number[] = [];
  const u32 = (value: number) => [value & 0xff, (value >>> 8) & 0xff, (value >>> 16) & 0xff, value >>> 24];
  const id = (text: string) => Array.from(text, (char) => char.charCodeAt(0));
  for (const [chunkId, body, declaredSize] of chunks) {
    parts.push(...id(chunkId), ...u32(declaredSize ?? body.length), ...body);
    if (body.length % 2 === 1) parts.push(0);
  }
  return Uint8Array.from([...id("RIFF"), ...u32(parts.length + 4), ...id("WAVE"), ...parts]);
}

function fmt(
  formatTag: number,
  channels: number,
  sampleRate: number,
  bits: number,
  extra: number[] = [],
): Uint8Array {
  const block = (channels * bits) / 8;
  const view = new DataView(new ArrayBuffer(16));
  view.setUint16(0, formatTag, true);
  view.setUint16(2, channels, true);
  view.setUint32(4, sampleRate, true);
  view.setUint32(8, sampleRate * block, true);
  view.setUint16(12, block, true);
  view.setUint16(14, bits, true);
  return Uint8Array.from([...new Uint8Array(view.buffer), ...extra]);
}

/** WAVE_FORMAT_EXTENSIBLE tail: cbSize 22, valid bits, channel mask, KSDATAFORMAT_SUBTYPE GUID of `subTag`. */
function extensible(subTag: number, bits: number): number[] {
  const guidTail = [0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xaa, 0x00, 0x38, 0x9b, 0x71];
  return [22, 0, bits, 0, 3, 0, 0, 0, subTag & 0xff, subTag >> 8, ...guidTail];
}

function int16Bytes(...samples: number[]): Uint8Array {
  return new Uint8Array(Int16Array.from(samples).buffer);
}

describe("readWav on real files", () => {
  it("reads 8 kHz mu-law with fact and LIST chunks (deepgram-testing-websocket.wav)", () => {
    const wav = readWav(realAudio("deepgram-testing-websocket.wav"));
    expect(wav).toMatchObject({ format: "mulaw", sampleRate: 8000, channels: 1 });
    expect(wav.samples.length / wav.sampleRate).toBeCloseTo(4.68, 2); // SOURCES.md: 4.68 s
  });

  it("reads 22.05 kHz PCM16 (ljspeech) and rewrites it byte for byte", () => {
    const file = realAudio("ljspeech-LJ001-0002.wav");
    const wav = readWav(file);
    expect(wav).toMatchObject({ format: "pcm16", sampleRate: 22050, channels: 1 });
    expect(wav.samples.length / wav.sampleRate).toBeCloseTo(1.9, 2);
    expectSameSamples(writeWav(wav), file);
  });

  it.each(["deepgram-preamble-websocket-8k-mulaw.wav", "speechcommands-yes_1000ms-8k-mulaw.wav"])(
    "rewrites sox's mu-law file %s byte for byte (fmt 18 + fact + data)",
    (name) => {
      const file = realAudio(name);
      expectSameSamples(writeWav(readWav(file)), file);
    },
  );

  it("reads 16 kHz PCM16 (speechcommands)", () => {
    const wav = readWav(realAudio("speechcommands-no_1000ms.wav"));
    expect(wav).toMatchObject({ format: "pcm16", sampleRate: 16000, channels: 1 });
    expect(wav.samples.length).toBe(16000);
  });
});

describe("readWav on crafted files", () => {
  it("skips an odd-sized chunk and its pad byte before the data", () => {
    const file = riff(
      ["fmt ", fmt(1, 1, 8000, 16)],
      ["LIST", Uint8Array.of(1, 2, 3)],
      ["data", int16Bytes(5, -6)],
    );
    expect(Array.from(readWav(file).samples)).toEqual([5, -6]);
  });

  it("accepts the data chunk before the fmt chunk", () => {
    const file = riff(["data", int16Bytes(1, 2, 3)], ["fmt ", fmt(1, 1, 16000, 16)]);
    expect(readWav(file)).toMatchObject({ sampleRate: 16000, samples: Int16Array.of(1, 2, 3) });
  });

  it("reads WAVE_FORMAT_EXTENSIBLE with a PCM subformat, stereo interleaved", () => {
    const file = riff(
      ["fmt ", fmt(0xfffe, 2, 48000, 16, extensible(1, 16))],
      ["data", int16Bytes(1, -1, 2, -2)],
    );
    expect(readWav(file)).toMatchObject({ format: "pcm16", channels: 2, sampleRate: 48000 });
    expect(Array.from(readWav(file).samples)).toEqual([1, -1, 2, -2]);
  });

  it("reads WAVE_FORMAT_EXTENSIBLE with a mu-law subformat", () => {
    const file = riff(
      ["fmt ", fmt(0xfffe, 1, 8000, 8, extensible(7, 8))],
      ["data", Uint8Array.of(0xff, 0x80)],
    );
    expect(readWav(file)).toMatchObject({ format: "mulaw", samples: Uint8Array.of(0xff, 0x80) });
  });

  it("reads 32-bit float", () => {
    const file = riff(
      ["fmt ", fmt(3, 1, 24000, 32)],
      ["data", new Uint8Array(Float32Array.of(0.5, -0.25).buffer)],
    );
    expect(readWav(file)).toMatchObject({
      format: "float32",
      sampleRate: 24000,
      samples: Float32Array.of(0.5, -0.25),
    });
  });

  it("reads a streamed file whose data size is unknown (0xFFFFFFFF) to the end", () => {
    const file = riff(["fmt ", fmt(1, 1, 8000, 16)], ["data", int16Bytes(7, 8, 9), 0xffffffff]);
    expect(Array.from(readWav(file).samples)).toEqual([7, 8, 9]);
  });

  it("reads from a Uint8Array that is a view into a larger buffer at an odd offset", () => {
    const file = riff(["fmt ", fmt(1, 1, 8000, 16)], ["data", int16Bytes(300, -300)]);
    const padded = new Uint8Array(file.length + 3);
    padded.set(file, 1);
    expect(Array.from(readWav(padded.subarray(1, 1 + file.length)).samples)).toEqual([300, -300]);
  });
});

describe("readWav rejects bad input with a WavFormatError saying why", () => {
  const pcmFmt = fmt(1, 1, 8000, 16);
  const cases: [string, Uint8Array, RegExp][] = [
    ["an empty buffer", new Uint8Array(0), /shorter than a RIFF header/],
    ["an MP3", Uint8Array.from([0x49, 0x44, 0x33, 4, 0, 0, 0, 0, 0, 0, 0, 0]), /starts with "ID3\?"/],
    [
      "a big-endian RIFX file",
      Uint8Array.from([...new TextEncoder().encode("RIFX"), 4, 0, 0, 0, 0, 0, 0, 0]),
      /RIFX/,
    ],
    [
      "a RIFF that is not WAVE",
      Uint8Array.from([...new TextEncoder().encode("RIFF\x04\0\0\0AVI ")]),
      /"AVI "/,
    ],
    ["a file without fmt", riff(["data", int16Bytes(1)]), /no fmt chunk/],
    ["a file without data", riff(["fmt ", pcmFmt]), /no data chunk/],
    [
      "a truncated data chunk",
      riff(["fmt ", pcmFmt], ["data", int16Bytes(1, 2), 400]),
      /declares 400 bytes, 4 present/,
    ],
    ["a truncated fmt chunk", riff(["fmt ", pcmFmt, 64]), /"fmt " chunk at byte 12 declares 64 bytes/],
    ["a short fmt chunk", riff(["fmt ", pcmFmt.subarray(0, 14)], ["data", int16Bytes(1)]), /at least 16/],
    ["ADPCM", riff(["fmt ", fmt(2, 1, 8000, 4)], ["data", Uint8Array.of(1, 2)]), /format tag 2 with 4 bits/],
    [
      "24-bit PCM",
      riff(["fmt ", fmt(1, 1, 8000, 24)], ["data", new Uint8Array(6)]),
      /format tag 1 with 24 bits/,
    ],
    ["zero channels", riff(["fmt ", fmt(1, 0, 8000, 16)], ["data", int16Bytes(1)]), /0 channels/],
    ["a sample rate of 0", riff(["fmt ", fmt(1, 1, 0, 16)], ["data", int16Bytes(1)]), /sample rate of 0/],
    [
      "a partial frame",
      riff(["fmt ", fmt(1, 2, 8000, 16)], ["data", int16Bytes(1, 2, 3)]),
      /whole number of 4-byte/,
    ],
    [
      "an extensible fmt with a foreign GUID",
      riff(["fmt ", fmt(0xfffe, 1, 8000, 16, [22, 0, 16, 0, 4, 0, 0, 0, ...new Array<number>(16).fill(9)])]),
      /non-standard subformat/,
    ],
  ];

  it.each(cases)("%s", (_, file, message) => {
    expect(() => readWav(file)).toThrow(WavFormatError);
    expect(() => readWav(file)).toThrow(message);
  });

  it("never fails with anything but a WavFormatError on random or damaged bytes", () => {
    const valid = realAudio("ljspeech-LJ001-0002-8k-mulaw.wav").subarray(0, 200);
    const damaged = fc
      .array(fc.tuple(fc.nat({ max: valid.length - 1 }), fc.integer({ min: 0, max: 255 })), { maxLength: 8 })
      .map((edits) => {
        const copy = valid.slice();
        for (const [offset, value] of edits) copy[offset] = value;
        return copy;
      });
    const truncated = fc.nat({ max: valid.length }).map((length) => valid.slice(0, length));
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 120 }), damaged, truncated), (file) => {
        try {
          readWav(file);
        } catch (error) {
          expect(error).toBeInstanceOf(WavFormatError);
        }
      }),
      { numRuns: 500 },
    );
  });
});

describe("writeWav", () => {
  const cases: WavAudio[] = [
    { format: "pcm16", sampleRate: 16000, channels: 1, samples: Int16Array.of(0, 32767, -32768, 5) },
    { format: "pcm16", sampleRate: 44100, channels: 2, samples: Int16Array.of(1, -1, 2, -2, 3, -3) },
    { format: "mulaw", sampleRate: 8000, channels: 1, samples: Uint8Array.of(0xff, 0x7f, 0x00) }, // odd: padded
    { format: "mulaw", sampleRate: 8000, channels: 2, samples: Uint8Array.of(0x80, 0x00) },
    { format: "float32", sampleRate: 24000, channels: 1, samples: Float32Array.of(0.5, -1, 0.125) },
  ];

  it.each(cases)("round-trips $format, $channels channel(s)", (audio) => {
    const file = writeWav(audio);
    expect(file.length % 2).toBe(0);
    expect(readWav(file)).toEqual(audio);
  });

  it("rejects what it cannot write", () => {
    const samples = Int16Array.of(1, 2, 3);
    expect(() => writeWav({ format: "pcm16", sampleRate: 8000, channels: 3, samples })).toThrow(
      /1 or 2 channels/,
    );
    expect(() => writeWav({ format: "pcm16", sampleRate: 8000, channels: 2, samples })).toThrow(
      /split evenly/,
    );
    expect(() => writeWav({ format: "pcm16", sampleRate: 0, channels: 1, samples })).toThrow(/sample rate/);
    const mismatched = { format: "mulaw", sampleRate: 8000, channels: 1, samples } as unknown as WavAudio;
    expect(() => writeWav(mismatched)).toThrow(/"mulaw" samples must be in a Uint8Array/);
  });
});
