/**
 * A streaming TTS yields a piece of audio every 20 ms. Only the first piece of a segment and one piece per
 * second of audio go through the statechart; the rest go straight out (machines/speech.actor.ts). These tests
 * hold that road to the same rules as the statechart's: every byte in order, the mark after the last one, an
 * exact playback ledger, nothing after a barge-in, and a watchdog that still catches a stalled engine.
 */
import { describe, expect, it } from "vitest";
import { EVENT_EVERY_BYTES } from "../../machines/speech.actor.js";
import { audioOf } from "./call-fakes.js";
import { greetedCall, type TestCall } from "./call-harness.js";

const QUESTION = "Can someone look at my fuse box?";
const REPLY = "Sure, we can send someone.";
/** 20 ms of mulaw. */
const PIECE_BYTES = 160;

/** Piece `n` of the reply: readable in `sent()` as `media piece n`. */
function piece(n: number): Uint8Array {
  const bytes = new Uint8Array(PIECE_BYTES).fill(".".charCodeAt(0));
  bytes.set(audioOf(`piece ${n}`));
  return bytes;
}

function pieces(from: number, count: number): Uint8Array[] {
  return Array.from({ length: count }, (_, i) => piece(from + i));
}

/** What went out, with the pieces' padding left off. */
function sent(call: TestCall): string[] {
  return call.sent().map((line) => line.replace(/\.+$/, ""));
}

function names(from: number, count: number): string[] {
  return Array.from({ length: count }, (_, i) => `media piece ${from + i}`);
}

async function streamingReply() {
  const call = await greetedCall();
  await call.says(QUESTION);
  const synthesis = call.tts.stream(REPLY);
  call.received.length = 0;
  await call.replies(REPLY);
  return { call, synthesis };
}

describe("streamed speech", () => {
  it("sends every piece in order with the mark after the last, seeing one event per second of audio", async () => {
    const { call, synthesis } = await streamingReply();
    synthesis.push(...pieces(0, 100));
    await call.advance(0);
    expect(sent(call)).toEqual(names(0, 100));
    expect(call.state()).toBe("active.replying.speaking.playing");

    synthesis.end();
    await call.advance(0);
    expect(sent(call)).toEqual(["mark t1-s0-g2"]);
    // 2 s of audio: the first piece, then the piece that completes a second of audio since it.
    expect(call.received.filter((type) => type === "speech.audio")).toHaveLength(2);
    expect(EVENT_EVERY_BYTES).toBe(50 * PIECE_BYTES);
    expect(call.actor.getSnapshot().context.playback.segments).toEqual([
      { text: REPLY, mark: "t1-s0-g2", bytes: 100 * PIECE_BYTES, sentAt: 0, playedAt: null },
    ]);

    await call.playMarks();
    expect(call.state()).toBe("active.listening.waiting");
    expect(call.history().at(-1)).toEqual({ role: "assistant", content: REPLY });
  });

  it("sends nothing more once the caller barged in, and aborts the synthesis", async () => {
    const { call, synthesis } = await streamingReply();
    synthesis.push(...pieces(0, 10));
    await call.advance(0);
    expect(sent(call)).toEqual(names(0, 10));

    await call.interim("wait a second");
    expect(sent(call)).toEqual(["clear"]);
    synthesis.push(...pieces(10, 10));
    await call.advance(0);
    expect(sent(call)).toEqual([]);
    expect(call.tts.requests.at(-1)).toMatchObject({ text: REPLY, aborted: true });
    expect(call.state()).toBe("active.listening.hearing");
  });

  it("drops the pieces the engine had already produced when the caller barged in", async () => {
    const { call, synthesis } = await streamingReply();
    synthesis.push(piece(0));
    await call.advance(0);
    expect(sent(call)).toEqual(names(0, 1));

    // In the same tick: the engine hands over 20 more pieces and the caller's interim passes the gate.
    synthesis.push(...pieces(1, 20));
    await call.interim("wait a second");
    await call.advance(0);
    expect(sent(call)).toEqual(["clear"]);
  });

  it("still counts a stall mid-segment as a TTS failure, ttsTimeoutMs after the last piece the statechart saw", async () => {
    const { call, synthesis } = await streamingReply();
    synthesis.push(piece(0));
    await call.advance(call.config.ttsTimeoutMs - 1000);
    // Half a second of audio straight out: not enough to rearm the watchdog.
    synthesis.push(...pieces(1, 25));
    await call.advance(999);
    expect(call.state()).toBe("active.replying.speaking.playing");
    await call.advance(1);
    expect(call.state()).toBe("active.apologizing");
    expect(call.logs.at(-1)?.details).toMatchObject({ engine: "tts", kind: "timeout" });
    expect(call.tts.requests.at(-1)).toMatchObject({ text: REPLY, aborted: true });
  });

  it("keeps a slow but steady stream alive: each second of audio rearms the watchdog", async () => {
    const { call, synthesis } = await streamingReply();
    synthesis.push(piece(0));
    for (let second = 0; second < 3; second += 1) {
      await call.advance(call.config.ttsTimeoutMs - 1);
      synthesis.push(...pieces(1 + second * 50, 50));
    }
    await call.advance(call.config.ttsTimeoutMs - 1);
    expect(call.state()).toBe("active.replying.speaking.playing");
    synthesis.end();
    await call.advance(0);
    expect(sent(call).slice(-2)).toEqual(["media piece 150", "mark t1-s0-g2"]);
    expect(call.actor.getSnapshot().context.playback.segments[0]?.bytes).toBe(151 * PIECE_BYTES);
  });
});
