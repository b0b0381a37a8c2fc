import { describe, expect, it } from "vitest";
import { createOutboundConverter } from "../../src/audio/converters.js";
import { MULAW_FRAME_BYTES, MulawFramer } from "../../src/audio/frames.js";
import { mulawToPcm16, pcm16ToMulaw } from "../../src/audio/mulaw.js";
import { readWav } from "../../src/audio/wav.js";
import { chunks, concat, expectSameSamples, realAudio, snrDb } from "./signals.js";

function readMulaw(name: string): Uint8Array {
  const wav = readWav(realAudio(name));
  if (wav.format !== "mulaw" || wav.sampleRate !== 8000) throw new Error(`${name} should be 8 kHz mu-law`);
  return wav.samples;
}

function readPcm16(name: string): { rate: number; samples: Int16Array } {
  const wav = readWav(realAudio(name));
  if (wav.format !== "pcm16" || wav.channels !== 1) throw new Error(`${name} should be mono PCM16`);
  return { rate: wav.sampleRate, samples: wav.samples };
}

describe("real mu-law speech (Deepgram's test recordings and sox's copies of them)", () => {
  it("decodes the original and sox's copy to identical samples although 1,788 bytes differ (0x7F vs 0xFF)", () => {
    const original = readMulaw("deepgram-preamble-websocket.wav");
    const soxCopy = readMulaw("deepgram-preamble-websocket-8k-mulaw.wav");
    const differingPairs = new Set<string>();
    let differing = 0;
    original.forEach((byte, i) => {
      if (byte === soxCopy[i]) return;
      differing++;
      differingPairs.add(`${byte.toString(16)}->${soxCopy[i]?.toString(16)}`);
    });
    expect(differing).toBe(1788);
    expect([...differingPairs]).toEqual(["7f->ff"]);
    expectSameSamples(mulawToPcm16(original), mulawToPcm16(soxCopy));
  });

  it.each(["deepgram-preamble-websocket", "deepgram-testing-websocket"])(
    "re-encodes the decoded %s exactly as sox did (same G.711 encoder)",
    (name) => {
      const reencoded = pcm16ToMulaw(mulawToPcm16(readMulaw(`${name}.wav`)));
      expectSameSamples(reencoded, readMulaw(`${name}-8k-mulaw.wav`));
    },
  );
});

describe("TTS-rate speech to Twilio frames", () => {
  // sox (high-quality resampler, dither) made the reference copies. Both sides carry their own mu-law
  // quantisation noise (~38 dB below speech each), so about 30 dB is as close as two good converters get.
  it.each([
    { name: "ljspeech-LJ001-0002", minimumDb: 28 }, // 22.05 kHz like Piper; measured 32.9 dB
    { name: "ljspeech-LJ001-0004", minimumDb: 28 }, // measured 30.8 dB
    { name: "ljspeech-LJ001-0006", minimumDb: 28 }, // measured 31.8 dB
    { name: "speechcommands-yes_1000ms", minimumDb: 24 }, // 16 kHz, more energy near 4 kHz; measured 27.5 dB
  ])(
    "converts $name in 20 ms pushes close to sox's conversion (>= $minimumDb dB SNR, time-aligned)",
    ({ name, minimumDb }) => {
      const { rate, samples } = readPcm16(`${name}.wav`);
      const converter = createOutboundConverter(rate);
      const pushes = chunks(samples, Math.round(rate * 0.02)).map((piece) => converter.push(piece));
      const ours = concat([...pushes, converter.flush()]);
      const sox = readMulaw(`${name}-8k-mulaw.wav`);
      expect(Math.abs(ours.length - sox.length)).toBeLessThanOrEqual(1);
      const length = Math.min(ours.length, sox.length);
      expect(snrDb(mulawToPcm16(sox), mulawToPcm16(ours), 0, length)).toBeGreaterThanOrEqual(minimumDb);
    },
  );

  it("frames the converted speech into whole 160-byte frames carrying every byte", () => {
    const { rate, samples } = readPcm16("ljspeech-LJ001-0004.wav");
    const converter = createOutboundConverter(rate);
    const framer = new MulawFramer();
    const frames: Uint8Array[] = [];
    const sent: Uint8Array[] = [];
    const onFrame = (frame: Uint8Array) => frames.push(frame.slice());
    for (const piece of chunks(samples, 4096)) {
      const mulaw = converter.push(piece);
      sent.push(mulaw);
      framer.push(mulaw, onFrame);
    }
    const tail = converter.flush();
    sent.push(tail);
    framer.push(tail, onFrame);
    framer.flush(onFrame);
    const all = concat(sent);
    expect(frames).toHaveLength(Math.ceil(all.length / MULAW_FRAME_BYTES));
    expectSameSamples(concat(frames).subarray(0, all.length), all);
  });
});
