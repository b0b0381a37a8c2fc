import { describe, expect, it } from "vitest";
import { createAudioInlet } from "../../machines/audio-inlet.js";
import { EngineError, type TtsEngine } from "../../machines/engines.js";
import { createPhraseCache } from "../../machines/phrase-cache.js";
import { FakeSttSession, FakeTts } from "./call-fakes.js";

describe("the phrase cache", () => {
  it("synthesizes each phrase once, whole, before any call", async () => {
    const tts = new FakeTts();
    const cache = createPhraseCache(tts);
    expect(cache.get("Hello!")).toBeUndefined();
    expect(await cache.prepare(["Hello!", "Bye.", "Hello!"])).toEqual([]);
    expect(await cache.prepare(["Bye."])).toEqual([]);
    expect(tts.texts).toEqual(["Hello!", "Bye."]);
    expect(new TextDecoder().decode(cache.get("Hello!"))).toBe("Hello!");
  });

  it("joins audio that arrives in pieces", async () => {
    const pieces: TtsEngine = {
      name: "pieces",
      async *synthesize() {
        yield new Uint8Array([1, 2]);
        yield new Uint8Array([]);
        yield new Uint8Array([3]);
      },
    };
    const cache = createPhraseCache(pieces);
    await cache.prepare(["Hi"]);
    expect(cache.get("Hi")).toEqual(new Uint8Array([1, 2, 3]));
  });

  it("reports phrases it could not prepare and leaves them uncached", async () => {
    const tts = new FakeTts();
    tts.failOn("Bye.");
    const silent: TtsEngine = { name: "silent", async *synthesize() {} };
    const cache = createPhraseCache(tts);
    const failures = await cache.prepare(["Hello!", "Bye."]);
    expect(failures.map(({ text, error }) => [text, error.engine, error.kind])).toEqual([
      ["Bye.", "tts", "http"],
    ]);
    expect(cache.get("Bye.")).toBeUndefined();
    const [empty] = await createPhraseCache(silent).prepare(["Hello!"]);
    expect(empty?.error).toBeInstanceOf(EngineError);
    expect(empty?.error.message).toBe('the TTS engine returned no audio for "Hello!"');
  });
});

describe("the audio inlet", () => {
  it("forwards frames to the attached session only, counting the rest", () => {
    const inlet = createAudioInlet();
    const session = new FakeSttSession(() => undefined);
    const frame = new Uint8Array(160);
    inlet.push(frame);
    const detach = inlet.attach(session);
    inlet.push(frame);
    inlet.push(frame);
    expect(() => inlet.attach(session)).toThrow("an STT session is already attached");
    detach();
    inlet.push(frame);
    expect(inlet.droppedFrames).toBe(2);
    expect(session.framesReceived).toBe(2);
  });
});
