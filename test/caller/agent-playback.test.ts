import { describe, expect, it } from "vitest";
import { AgentPlayback } from "../../tools/caller/agent-playback.js";

const bytes = (length: number, value = 0x10) => new Uint8Array(length).fill(value);

describe("AgentPlayback (Twilio's playback buffer)", () => {
  it("plays queued audio 160 bytes at a time, padding with silence when it runs dry", () => {
    const playback = new AgentPlayback();
    playback.enqueueAudio(bytes(100, 0x01));
    playback.enqueueAudio(bytes(100, 0x02));
    const out = new Uint8Array(160);

    expect(playback.play(out, () => {})).toBe(160);
    expect([...out.subarray(0, 100)].every((b) => b === 0x01)).toBe(true);
    expect([...out.subarray(100)].every((b) => b === 0x02)).toBe(true);
    expect(playback.play(out, () => {})).toBe(40);
    expect([...out.subarray(40)].every((b) => b === 0xff)).toBe(true);
    expect(playback.idle).toBe(true);
  });

  it("echoes a mark only once the audio queued before it has played", () => {
    const playback = new AgentPlayback();
    const echoed: string[] = [];
    const echo = (name: string) => echoed.push(name);
    playback.enqueueAudio(bytes(400));
    playback.enqueueMark("a", echo);
    playback.enqueueAudio(bytes(160));
    playback.enqueueMark("b", echo);
    const out = new Uint8Array(160);

    playback.play(out, echo);
    playback.play(out, echo);
    expect(echoed).toEqual([]);
    playback.play(out, echo); // the last 80 bytes before "a", then 80 of the next audio
    expect(echoed).toEqual(["a"]);
    playback.play(out, echo);
    expect(echoed).toEqual(["a", "b"]);
    expect(playback.idle).toBe(true);
  });

  it("echoes a mark at once when nothing is queued ahead of it", () => {
    const playback = new AgentPlayback();
    const echoed: string[] = [];
    playback.enqueueMark("now", (name) => echoed.push(name));
    expect(echoed).toEqual(["now"]);
    expect(playback.idle).toBe(true);
  });

  it("on clear drops the audio and echoes every pending mark in order", () => {
    const playback = new AgentPlayback();
    const echoed: string[] = [];
    const echo = (name: string) => echoed.push(name);
    playback.enqueueAudio(bytes(8000));
    playback.enqueueMark("one", echo);
    playback.enqueueAudio(bytes(8000));
    playback.enqueueMark("two", echo);

    playback.clear(echo);
    expect(echoed).toEqual(["one", "two"]);
    expect(playback.bufferedBytes).toBe(0);
    const out = new Uint8Array(160);
    expect(playback.play(out, echo)).toBe(0);
  });

  it("keeps order over a long stream of frames and marks", () => {
    const playback = new AgentPlayback();
    const echoed: string[] = [];
    const echo = (name: string) => echoed.push(name);
    for (let i = 0; i < 600; i++) {
      playback.enqueueAudio(bytes(160, i % 250));
      playback.enqueueMark(`m${i}`, echo);
    }
    const out = new Uint8Array(160);
    for (let i = 0; i < 600; i++) {
      playback.play(out, echo);
      expect(out[0]).toBe(i % 250);
      expect(echoed.at(-1)).toBe(`m${i}`);
    }
    expect(echoed).toHaveLength(600);
  });
});
