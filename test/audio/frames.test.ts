import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { FRAME_MS, MULAW_FRAME_BYTES, MulawFramer } from "../../src/audio/frames.js";
import { MULAW_SILENCE } from "../../src/audio/mulaw.js";
import { split } from "./signals.js";

/** Runs chunks through a framer, copying each frame out (the framer reuses its buffer). */
function frameAll(framer: MulawFramer, pieces: readonly Uint8Array[]): Uint8Array[] {
  const frames: Uint8Array[] = [];
  const collect = (frame: Uint8Array) => frames.push(frame.slice());
  for (const piece of pieces) framer.push(piece, collect);
  framer.flush(collect);
  return frames;
}

function bytes(length: number, seed = 0): Uint8Array {
  return Uint8Array.from({ length }, (_, i) => (i * 37 + seed) % 251);
}

describe("MulawFramer", () => {
  it("describes 20 ms of 8 kHz mu-law as 160 bytes", () => {
    expect(MULAW_FRAME_BYTES).toBe((8000 * FRAME_MS) / 1000);
  });

  it("cuts any split of the stream into the same 160-byte frames, the last padded with silence", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 2000 }),
        fc.array(fc.integer({ min: 0, max: 500 }), { maxLength: 30 }),
        (length, sizes) => {
          const stream = bytes(length);
          const frames = frameAll(new MulawFramer(), split(stream, sizes));
          expect(frames.length).toBe(Math.ceil(length / MULAW_FRAME_BYTES));
          for (const frame of frames) expect(frame.length).toBe(MULAW_FRAME_BYTES);
          const joined = frames.flatMap((frame) => Array.from(frame));
          expect(joined.slice(0, length)).toEqual(Array.from(stream));
          expect(joined.slice(length).every((byte) => byte === MULAW_SILENCE)).toBe(true);
        },
      ),
      { numRuns: 200 },
    );
  });

  it("holds a partial frame until it fills up", () => {
    const framer = new MulawFramer();
    const frames: number[][] = [];
    const collect = (frame: Uint8Array) => frames.push(Array.from(frame));
    framer.push(bytes(100), collect);
    expect(frames).toHaveLength(0);
    expect(framer.bufferedBytes).toBe(100);
    framer.push(bytes(100, 100), collect);
    expect(frames).toHaveLength(1);
    expect(framer.bufferedBytes).toBe(40);
    expect(frames[0]).toEqual([...bytes(100), ...bytes(60, 100)]);
  });

  it("emits nothing on flush when no partial frame is pending", () => {
    const framer = new MulawFramer();
    const frames = frameAll(framer, [bytes(320)]);
    expect(frames).toHaveLength(2);
    let emitted = 0;
    framer.flush(() => emitted++);
    expect(emitted).toBe(0);
  });

  it("hands out one reused buffer, valid until the handler returns", () => {
    const framer = new MulawFramer();
    const seen: Uint8Array[] = [];
    framer.push(bytes(480), (frame) => seen.push(frame));
    expect(seen).toHaveLength(3);
    expect(seen[1]).toBe(seen[0]);
    expect(seen[2]).toBe(seen[0]);
  });

  it("discards the pending partial frame on reset (barge-in)", () => {
    const framer = new MulawFramer();
    framer.push(bytes(90), () => {});
    framer.reset();
    expect(framer.bufferedBytes).toBe(0);
    expect(frameAll(framer, [bytes(160, 5)])).toEqual([bytes(160, 5)]);
  });

  it("stays consistent when a handler throws", () => {
    const framer = new MulawFramer();
    expect(() =>
      framer.push(bytes(200), () => {
        throw new Error("socket gone");
      }),
    ).toThrow("socket gone");
    // The frame that was handed out counts as consumed; the stream carries on from the next byte.
    expect(framer.bufferedBytes).toBe(0);
    expect(frameAll(framer, [bytes(160, 9)])).toEqual([bytes(160, 9)]);
  });
});
