/**
 * The audio tail every TTS adapter shares: engine PCM in any split becomes the same mulaw 8 kHz as one
 * conversion, an abort stops it with "aborted", and a rate that changes within a segment is refused.
 */
import { describe, expect, it } from "vitest";
import { createOutboundConverter } from "../../src/audio/converters.js";
import { type PcmPiece, toTelephonyAudio } from "../../src/engines/tts-audio.js";

const RATE = 22_050;
const TONE = Float32Array.from(
  { length: RATE / 2 },
  (_, i) => 0.5 * Math.sin((2 * Math.PI * 440 * i) / RATE),
);

describe("toTelephonyAudio", () => {
  it("converts pieces of any size to the mulaw of one whole conversion and returns the audio's length", async () => {
    const pieces = [TONE.subarray(0, 1), TONE.subarray(1, 3000), TONE.subarray(3000)].map(
      (samples): PcmPiece => ({ samples, sampleRate: RATE }),
    );

    const { chunks, result } = await drain(toTelephonyAudio(from(pieces), new AbortController().signal));

    const converter = createOutboundConverter(RATE);
    const whole = Buffer.concat([converter.push(TONE), converter.flush()]);
    expect(Buffer.concat(chunks)).toEqual(whole);
    expect(chunks.every((chunk) => chunk.length > 0)).toBe(true);
    expect(result).toBe((whole.length * 1000) / 8000);
  });

  it("throws 'aborted' once the signal aborts between pieces, and yields nothing after", async () => {
    const controller = new AbortController();
    async function* engine(): AsyncGenerator<PcmPiece> {
      yield { samples: TONE.subarray(0, 4000), sampleRate: RATE };
      controller.abort();
      yield { samples: TONE.subarray(4000), sampleRate: RATE };
    }
    const seen: Uint8Array[] = [];

    await expect(
      (async () => {
        for await (const chunk of toTelephonyAudio(engine(), controller.signal)) seen.push(chunk);
      })(),
    ).rejects.toMatchObject({ engine: "tts", kind: "aborted" });
    expect(seen).toHaveLength(1);
  });

  it("refuses a sample rate that changes within one segment", async () => {
    const pieces: PcmPiece[] = [
      { samples: TONE.subarray(0, 100), sampleRate: RATE },
      { samples: TONE.subarray(100, 200), sampleRate: 24_000 },
    ];
    await expect(drain(toTelephonyAudio(from(pieces), new AbortController().signal))).rejects.toMatchObject({
      kind: "protocol",
      message: expect.stringContaining("from 22050 to 24000 Hz"),
    });
  });
});

async function* from(pieces: readonly PcmPiece[]): AsyncGenerator<PcmPiece> {
  yield* pieces;
}

async function drain(
  audio: AsyncGenerator<Uint8Array, number>,
): Promise<{ chunks: Uint8Array[]; result: number }> {
  const chunks: Uint8Array[] = [];
  for (;;) {
    const next = await audio.next();
    if (next.done) return { chunks, result: next.value };
    chunks.push(next.value);
  }
}
