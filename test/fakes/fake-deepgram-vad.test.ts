/**
 * The fake Deepgram with the real Silero VAD deciding what is speech (the dev fakes' mode): real recorded
 * speech sent as Twilio sends it (8 kHz mu-law) gives one scripted line per utterance, in Deepgram's live
 * messages; white noise and a short loud burst (a cough, a knock) give none. The energy mode, for contrast,
 * hears the same noise as a line. Audio is sent as fast as the socket takes it: the fake judges it from the
 * audio alone, so nothing here depends on the machine's speed.
 */
import { once } from "node:events";
import { readFile } from "node:fs/promises";
import type { IncomingMessage } from "node:http";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { floatToMulawSample, MULAW_SILENCE } from "../../src/audio/mulaw.js";
import { readWav } from "../../src/audio/wav.js";
import { loadSileroVad, type SileroVad } from "../../src/engines/vad/silero-vad.js";
import { FakeDeepgram, type FakeDeepgramOptions } from "./fake-deepgram.js";

/** What the server asks for (src/engines/deepgram-stt.ts defaults). */
const QUERY =
  "encoding=mulaw&sample_rate=8000&channels=1&interim_results=true&endpointing=300&utterance_end_ms=1000&vad_events=true";
const LINES = ["first scripted line", "second scripted line", "third scripted line"];

let vad: SileroVad;
let fake: FakeDeepgram | undefined;
beforeAll(async () => {
  vad = await loadSileroVad();
});
afterEach(async () => {
  await fake?.close();
  fake = undefined;
});

async function recording(name: string): Promise<Uint8Array> {
  const wav = readWav(await readFile(new URL(`../../fixtures/real/audio/${name}`, import.meta.url)));
  return wav.samples as Uint8Array;
}

const silence = (seconds: number) => new Uint8Array(seconds * 8000).fill(MULAW_SILENCE);

/** Seeded white noise at `dbfs`, so every run sends the same audio. */
function whiteNoise(seconds: number, dbfs: number): Uint8Array {
  let seed = 11;
  return new Uint8Array(seconds * 8000).map(() => {
    seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
    return floatToMulawSample(((seed / 2 ** 31) * 2 - 1) * 10 ** (dbfs / 20));
  });
}

/** Sends `audio` in 20 ms frames, then CloseStream; resolves with every message once the fake closes. */
async function transcribe(
  options: FakeDeepgramOptions,
  audio: Uint8Array,
): Promise<Record<string, unknown>[]> {
  fake = await FakeDeepgram.start({ transcripts: LINES, ...options });
  const ws = new WebSocket(`${fake.url}/v1/listen?${QUERY}`, {
    headers: { authorization: `Token ${fake.apiKey}` },
  });
  const messages: Record<string, unknown>[] = [];
  ws.on("message", (data) => messages.push(JSON.parse(String(data)) as Record<string, unknown>));
  await once(ws, "open");
  for (let offset = 0; offset < audio.length; offset += 160) ws.send(audio.subarray(offset, offset + 160));
  ws.send(JSON.stringify({ type: "CloseStream" }));
  await once(ws, "close");
  return messages;
}

const finals = (messages: Record<string, unknown>[]) =>
  messages.filter((m) => m.type === "Results" && m.is_final === true);
const transcriptOf = (message: Record<string, unknown>) =>
  (message.channel as { alternatives: { transcript: string }[] }).alternatives[0]?.transcript ?? "";
const heard = (messages: Record<string, unknown>[]) =>
  finals(messages)
    .map(transcriptOf)
    .filter((text) => text !== "");
const lastWordEnd = (message: Record<string, unknown>) =>
  (message.channel as { alternatives: { words: { end: number }[] }[] }).alternatives[0]?.words.at(-1)?.end ??
  Number.NaN;
const ofType = (messages: Record<string, unknown>[], type: string) => messages.filter((m) => m.type === type);

describe("fake Deepgram with the Silero VAD", () => {
  it("hears each real utterance as the next scripted line, with Deepgram's live messages", async () => {
    const audio = Uint8Array.from([
      ...silence(1),
      ...(await recording("ljspeech-LJ001-0002-8k-mulaw.wav")),
      ...silence(2),
      ...(await recording("ljspeech-LJ001-0004-8k-mulaw.wav")),
      ...silence(2),
    ]);
    const messages = await transcribe({ vad }, audio);

    expect(heard(messages)).toEqual(LINES.slice(0, 2));
    const spoken = finals(messages).filter((m) => transcriptOf(m) !== "");
    expect(spoken.map((m) => m.speech_final)).toEqual([true, true]);
    expect(ofType(messages, "SpeechStarted")).toHaveLength(2);
    // Each UtteranceEnd follows its utterance's final result, its last word ending where that result's does.
    const ends = ofType(messages, "UtteranceEnd");
    expect(ends).toHaveLength(2);
    for (const [i, end] of ends.entries()) {
      const final = spoken[i] as Record<string, unknown>;
      expect(messages.indexOf(end)).toBeGreaterThan(messages.indexOf(final));
      expect(end.last_word_end as number).toBeGreaterThanOrEqual(lastWordEnd(final));
    }
    // The second utterance starts after the first one's recording (1 s lead-in + 1.9 s + 2 s of silence).
    const starts = ofType(messages, "SpeechStarted").map((m) => m.timestamp as number);
    expect(starts[0]).toBeGreaterThan(0.8);
    expect(starts[0]).toBeLessThan(1.5);
    expect(starts[1]).toBeGreaterThan(4.5);
    expect(ofType(messages, "Metadata")).toHaveLength(1);
  });

  it("hears nothing in white noise or a short loud burst", async () => {
    const audio = Uint8Array.from([
      ...silence(1),
      ...whiteNoise(3, -20),
      ...silence(1),
      ...whiteNoise(0.2, -6),
      ...silence(2),
    ]);
    const messages = await transcribe({ vad }, audio);

    expect(heard(messages)).toEqual([]);
    expect(ofType(messages, "SpeechStarted")).toEqual([]);
    expect(ofType(messages, "UtteranceEnd")).toEqual([]);
  });

  it("refuses audio the VAD cannot judge, naming what it takes", async () => {
    fake = await FakeDeepgram.start({ vad });
    const ws = new WebSocket(`${fake.url}/v1/listen?encoding=linear16&sample_rate=16000`, {
      headers: { authorization: `Token ${fake.apiKey}` },
    });
    ws.on("error", () => {}); // the refusal also surfaces as an error once the response is read
    const [, response] = (await once(ws, "unexpected-response")) as [unknown, IncomingMessage];
    let body = "";
    for await (const chunk of response) body += String(chunk);
    expect(response.statusCode).toBe(400);
    expect(body).toMatch(/mulaw&sample_rate=8000/);
  });
});

describe("fake Deepgram by energy (the other tests' mode)", () => {
  it("hears the same white noise as a line: what the VAD mode is for", async () => {
    const messages = await transcribe(
      {},
      Uint8Array.from([...silence(1), ...whiteNoise(3, -20), ...silence(2)]),
    );
    expect(heard(messages)).toEqual([LINES[0]]);
  });
});
