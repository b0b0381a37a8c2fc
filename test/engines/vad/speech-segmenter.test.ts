/**
 * The real Silero VAD v6.2 (models/silero-vad) on real speech, fed as Twilio sends it: 20 ms frames of 8 kHz
 * mu-law with a second of line silence before and after. The reference for where speech is comes from the
 * file itself (20 ms frames within 30 dB of its loudest frame). Input is paced by `drained()`, never by the
 * clock, so a busy machine changes nothing.
 */
import { readFile } from "node:fs/promises";
import { beforeAll, describe, expect, it } from "vitest";
import { floatToMulawSample, MULAW_SILENCE, MULAW_TO_FLOAT } from "../../../src/audio/mulaw.js";
import { readWav } from "../../../src/audio/wav.js";
import { loadSileroVad, type SileroVad } from "../../../src/engines/vad/silero-vad.js";
import {
  createSpeechSegmenter,
  type SpeechSegmentEvent,
  type SpeechSegmenterSettings,
} from "../../../src/engines/vad/speech-segmenter.js";

const FRAME = 160;
const LEAD_IN_S = 1;
/** Stated tolerances (seconds) of the detected boundaries against the energy reference. */
const START_EARLY = 0.1;
const START_LATE = 0.3;
const END_EARLY = 0.1;
const END_LATE = 0.25;

let vad: SileroVad;
beforeAll(async () => {
  vad = await loadSileroVad();
});

async function callAudio(name: string): Promise<Uint8Array> {
  const wav = readWav(await readFile(new URL(`../../../fixtures/real/audio/${name}`, import.meta.url))) as {
    samples: Uint8Array;
  };
  const pad = new Uint8Array(LEAD_IN_S * 8000).fill(MULAW_SILENCE);
  return Uint8Array.from([...pad, ...wav.samples, ...pad]);
}

async function segment(audio: Uint8Array, settings: SpeechSegmenterSettings = {}) {
  const events: SpeechSegmentEvent[] = [];
  const segmenter = createSpeechSegmenter({ vad, onEvent: (event) => events.push(event), ...settings });
  for (let offset = 0; offset + FRAME <= audio.length; offset += FRAME) {
    segmenter.push(audio.subarray(offset, offset + FRAME));
    await segmenter.drained();
  }
  await segmenter.flush();
  segmenter.close();
  expect(segmenter.stats.windowsSkipped).toBe(0);
  return events;
}

/** First and last 20 ms frame within 30 dB of the loudest: where the speech in the file is. */
function energyReference(audio: Uint8Array): { start: number; end: number } {
  const rms: number[] = [];
  for (let offset = 0; offset + FRAME <= audio.length; offset += FRAME) {
    let sum = 0;
    for (let i = offset; i < offset + FRAME; i++)
      sum += (MULAW_TO_FLOAT[audio[i] ?? MULAW_SILENCE] ?? 0) ** 2;
    rms.push(Math.sqrt(sum / FRAME));
  }
  const floor = Math.max(...rms) * 10 ** (-30 / 20);
  const first = rms.findIndex((value) => value >= floor);
  const last = rms.length - 1 - [...rms].reverse().findIndex((value) => value >= floor);
  return { start: (first * FRAME) / 8000, end: ((last + 1) * FRAME) / 8000 };
}

function ended(events: SpeechSegmentEvent[]) {
  return events.filter((event) => event.type === "speechEnded");
}

describe("speech segmenter on the real Silero VAD", () => {
  it.each([
    "ljspeech-LJ001-0002-8k-mulaw.wav",
    "ljspeech-LJ001-0004-8k-mulaw.wav",
    "speechcommands-yes_1000ms-8k-mulaw.wav",
  ])("finds the one utterance of %s within the stated tolerance, with its pre-roll", async (name) => {
    const audio = await callAudio(name);
    const reference = energyReference(audio);

    const events = await segment(audio);

    const segments = ended(events);
    expect(segments).toHaveLength(1);
    const [started] = events;
    expect(started?.type).toBe("speechStarted");
    const only = segments[0] as Extract<SpeechSegmentEvent, { type: "speechEnded" }>;
    expect(only.start).toBeGreaterThanOrEqual(reference.start - START_EARLY);
    expect(only.start).toBeLessThanOrEqual(reference.start + START_LATE);
    expect(only.end).toBeGreaterThanOrEqual(reference.end - END_EARLY);
    expect(only.end).toBeLessThanOrEqual(reference.end + END_LATE);
    expect(only.cut).toBe(false);
    // Pre-roll: the audio handed on begins before the speech does, so the first syllable is never lost.
    expect(only.audioStart).toBeLessThanOrEqual(reference.start);
    expect(only.audio.length).toBe(Math.round((only.end - only.audioStart) * 8000));
  });

  it("never triggers on line silence or on steady white noise", async () => {
    const silence = new Uint8Array(10 * 8000).fill(MULAW_SILENCE);
    const lineNoise = new Uint8Array(10 * 8000).map((_, i) => (i % 2 ? 0x7f : 0xfe));
    let seed = 7;
    const noise = new Uint8Array(10 * 8000).map(() => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      return floatToMulawSample(((seed / 2 ** 31) * 2 - 1) * 10 ** (-30 / 20));
    });

    for (const audio of [silence, lineNoise, noise]) expect(await segment(audio)).toEqual([]);
  });

  it("reports the open segment about every second while the caller keeps talking", async () => {
    const events = await segment(await callAudio("deepgram-preamble-websocket-8k-mulaw.wav"));

    const updates = events.filter((event) => event.type === "speechUpdate");
    expect(updates.length).toBeGreaterThanOrEqual(3);
    for (const update of updates) {
      if (update.type !== "speechUpdate") continue;
      expect(update.audio.length).toBe(Math.round((update.end - update.audioStart) * 8000));
    }
  });

  it("cuts a segment that runs past maxSegmentMs and goes on listening", async () => {
    const events = await segment(await callAudio("deepgram-preamble-websocket-8k-mulaw.wav"), {
      maxSegmentMs: 3000,
    });

    const segments = ended(events) as Extract<SpeechSegmentEvent, { type: "speechEnded" }>[];
    expect(segments.some((s) => s.cut)).toBe(true);
    for (const s of segments) expect(s.end - s.start).toBeLessThanOrEqual(3 + 0.04);
    expect(segments.length).toBeGreaterThanOrEqual(2);
  });

  it("keeps each call's state apart: two calls interleaved segment as each does alone", async () => {
    const a = await callAudio("ljspeech-LJ001-0002-8k-mulaw.wav");
    const b = await callAudio("speechcommands-no_1000ms-8k-mulaw.wav");
    const alone = [await segment(a), await segment(b)];

    const together: SpeechSegmentEvent[][] = [[], []];
    const segmenters = together.map((events) =>
      createSpeechSegmenter({ vad, onEvent: (e) => events.push(e) }),
    );
    const audios = [a, b];
    const longest = Math.max(a.length, b.length);
    for (let offset = 0; offset + FRAME <= longest; offset += FRAME) {
      for (const [i, segmenter] of segmenters.entries()) {
        const audio = audios[i] as Uint8Array;
        if (offset + FRAME <= audio.length) segmenter.push(audio.subarray(offset, offset + FRAME));
        await segmenter.drained();
      }
    }
    for (const segmenter of segmenters) {
      await segmenter.flush();
      segmenter.close();
    }

    expect(together).toEqual(alone);
  });

  it("refuses a model file that does not exist, naming it", async () => {
    await expect(loadSileroVad({ modelPath: "/nowhere/silero.onnx" })).rejects.toThrow(
      /\/nowhere\/silero\.onnx/,
    );
  });
});
