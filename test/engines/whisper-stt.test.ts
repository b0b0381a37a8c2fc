/**
 * The Whisper engine with the real Silero VAD (models/silero-vad) on real speech, fed as Twilio sends it (20 ms
 * frames of 8 kHz mu-law with a second of line silence before and after), against a fake OpenAI-compatible
 * `/v1/audio/transcriptions` server on 127.0.0.1 reached through the real `openai` SDK. Audio is paced by
 * `drained()`, and every wait is for an event, never for the clock.
 */
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { EngineError, SttEvent } from "../../machines/engines.js";
import { MULAW_SILENCE } from "../../src/audio/mulaw.js";
import { readWav } from "../../src/audio/wav.js";
import { loadSherpaWhisper } from "../../src/engines/whisper/sherpa-transcriber.js";
import { createWhisperStt, type WhisperSttOptions } from "../../src/engines/whisper-stt.js";
import { type FakeWhisperServer, startFakeWhisperServer } from "../fakes/fake-whisper-server.js";

const FRAME = 160;
const PRE_ROLL_S = 0.4;

let server: FakeWhisperServer;
beforeEach(async () => {
  server = await startFakeWhisperServer();
});
afterEach(async () => {
  await server.close();
});

async function callAudio(name: string): Promise<Uint8Array> {
  const wav = readWav(await readFile(new URL(`../../fixtures/real/audio/${name}`, import.meta.url))) as {
    samples: Uint8Array;
  };
  const pad = new Uint8Array(8000).fill(MULAW_SILENCE);
  return Uint8Array.from([...pad, ...wav.samples, ...pad]);
}

interface Run {
  events: SttEvent[];
  warnings: string[];
  errors: string[];
  failures: EngineError[];
  session: ReturnType<ReturnType<typeof createWhisperStt>["open"]>;
  /** Resolves once an event matches. */
  until(match: (event: SttEvent) => boolean): Promise<void>;
}

function openRun(options: WhisperSttOptions = {}): Run {
  const events: SttEvent[] = [];
  const warnings: string[] = [];
  const errors: string[] = [];
  const failures: EngineError[] = [];
  const waiters: { match: (event: SttEvent) => boolean; resolve: () => void }[] = [];
  const stt = createWhisperStt({
    baseUrl: server.baseUrl,
    onTranscriptionFailed: (error) => failures.push(error),
    logger: {
      warn: ((_fields: object, message: string) => warnings.push(message)) as never,
      error: ((_fields: object, message: string) => errors.push(message)) as never,
    },
    ...options,
  });
  const session = stt.open({
    callId: "CA-test",
    onEvent: (event) => {
      events.push(event);
      for (const waiter of waiters.filter((w) => w.match(event))) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve();
      }
    },
  });
  return {
    events,
    warnings,
    errors,
    failures,
    session,
    until: (match) =>
      events.some(match) ? Promise.resolve() : new Promise((resolve) => waiters.push({ match, resolve })),
  };
}

async function feed(run: Run, audio: Uint8Array): Promise<void> {
  const frame = new Uint8Array(FRAME);
  for (let offset = 0; offset + FRAME <= audio.length; offset += FRAME) {
    // One reused buffer, as the Twilio socket hands frames over: the engine must copy what it keeps.
    frame.set(audio.subarray(offset, offset + FRAME));
    run.session.sendAudio(frame);
    await run.session.drained();
  }
}

/** speechStarted, interim*, final, speechEnded, repeated: nothing else, nothing out of order. */
function expectUtteranceOrder(events: SttEvent[]): void {
  let state: "idle" | "open" | "final" = "idle";
  for (const event of events) {
    const step = `${state}:${event.type}`;
    if (step === "idle:speechStarted") state = "open";
    else if (step === "open:interim") state = "open";
    else if (step === "open:final") state = "final";
    else if (step === "final:speechEnded") state = "idle";
    else
      throw new Error(
        `${event.type} out of order (after ${state}) in ${events.map((e) => e.type).join(" ")}`,
      );
  }
  expect(state).toBe("idle");
}

const isEnded = (event: SttEvent) => event.type === "speechEnded";

describe("Whisper engine with a transcription server", () => {
  it("aborts an interim still being transcribed when the utterance ends, and never reports its words", async () => {
    server.answer = async (upload, index) => {
      if (index > 0) return { text: `words ${index}` };
      await server.hungUp(upload); // held until the engine gives up on it
      return { text: "stale words" };
    };
    const run = openRun();
    await feed(run, await callAudio("ljspeech-LJ001-0004-8k-mulaw.wav"));
    await run.until(isEnded);
    await run.session.close();

    expect(server.uploads[0]?.clientAborted).toBe(true);
    expect(run.events.some((event) => "text" in event && event.text === "stale words")).toBe(false);
    expect(run.events.filter((event) => event.type === "final")).toHaveLength(1);
    expectUtteranceOrder(run.events);
  });

  it("uploads each utterance whole, pre-roll included, as a 16 kHz mono pcm16 WAV, and reports it in order", async () => {
    server.answer = (_, index) => ({ text: `words ${index}` });
    const run = openRun();
    await feed(run, await callAudio("ljspeech-LJ001-0004-8k-mulaw.wav"));
    await run.until(isEnded);
    await run.session.close();

    expectUtteranceOrder(run.events);
    const finals = run.events.filter((e) => e.type === "final");
    expect(finals).toHaveLength(1);
    const final = finals[0] as Extract<SttEvent, { type: "final" }>;
    // The final's words are the answer to the last upload, the whole segment.
    const last = server.uploads.at(-1);
    expect(final.text).toBe(`words ${server.uploads.length - 1}`);
    expect(last?.fields).toMatchObject({
      model: "tiny.en",
      language: "en",
      temperature: "0",
      response_format: "json",
    });
    expect(last?.fileName).toBe("segment.wav");
    for (const upload of server.uploads) {
      const wav = readWav(upload.file);
      expect(wav).toMatchObject({ sampleRate: 16000, channels: 1, format: "pcm16" });
    }
    const wav = readWav(last?.file as Uint8Array);
    // From 400 ms before the speech start to its end: the first syllable is in the upload.
    expect(wav.samples.length / 16000).toBeCloseTo(final.end - final.start + PRE_ROLL_S, 2);
    const ended = run.events.at(-1) as Extract<SttEvent, { type: "speechEnded" }>;
    expect(ended.at).toBe(final.end);
  });

  it("sends interim words about every second of a long utterance, all before that utterance's final", async () => {
    server.answer = (upload) => ({ text: `${readWav(upload.file).samples.length} samples` });
    const run = openRun();
    await feed(run, await callAudio("deepgram-preamble-websocket-8k-mulaw.wav"));
    run.session.finalize();
    await run.session.drained();
    const uploadsBefore = server.uploads.length;
    await run.until(
      () => run.events.filter(isEnded).length === run.events.filter((e) => e.type === "speechStarted").length,
    );
    await run.session.close();

    expectUtteranceOrder(run.events);
    const interims = run.events.filter((e) => e.type === "interim");
    expect(interims.length).toBeGreaterThanOrEqual(3);
    expect(uploadsBefore).toBeGreaterThan(interims.length);
    for (const interim of interims) {
      if (interim.type === "interim") expect(interim.text).toMatch(/^\d+ samples$/);
    }
  });

  it("aborts the request in flight on close and says nothing after", async () => {
    server.answer = (upload) => server.hungUp(upload).then(() => ({ text: "too late" }));
    const run = openRun();
    const audio = await callAudio("ljspeech-LJ001-0002-8k-mulaw.wav");
    await feed(run, audio);
    const upload = await server.firstUpload();
    const seen = run.events.length;
    await run.session.close();

    await server.hungUp(upload);
    expect(upload.clientAborted).toBe(true);
    run.session.sendAudio(audio.subarray(0, FRAME));
    expect(run.events).toHaveLength(seen);
    expect(run.events.some((e) => e.type === "final")).toBe(false);
  });

  it("a transcription that fails (HTTP 500) ends the segment with no words, logged and counted", async () => {
    server.answer = () => ({ status: 500, message: "CUDA out of memory" });
    const run = openRun();
    await feed(run, await callAudio("speechcommands-yes_1000ms-8k-mulaw.wav"));
    await run.until(isEnded);
    await run.session.close();

    expectUtteranceOrder(run.events);
    expect(run.events.find((e) => e.type === "final")).toMatchObject({ text: "" });
    expect(run.failures.length).toBeGreaterThanOrEqual(1);
    expect(run.failures[0]?.message).toContain(`${server.baseUrl}/audio/transcriptions`);
    expect(run.failures[0]?.message).toContain("500");
    expect(run.warnings).toContain("whisper: transcription failed; the segment ends with no words");
  });

  it("a model the server does not serve (HTTP 404) fails the recogniser once, naming the fix", async () => {
    server.answer = () => ({ status: 404, message: "model 'tiny.en' not found" });
    const run = openRun();
    await feed(run, await callAudio("ljspeech-LJ001-0004-8k-mulaw.wav"));
    await run.until((e) => e.type === "failed");
    await feed(run, await callAudio("speechcommands-yes_1000ms-8k-mulaw.wav"));
    await run.session.close();

    const failed = run.events.filter((e) => e.type === "failed");
    expect(failed).toHaveLength(1);
    expect(run.events.at(-1)?.type).toBe("failed");
    const error = (failed[0] as Extract<SttEvent, { type: "failed" }>).error;
    expect(error.message).toContain("HTTP 404");
    expect(error.message).toContain("WHISPER_MODEL");
    expect(run.events.some((e) => e.type === "final")).toBe(false);
    expect(run.failures).toEqual([]);
    expect(run.errors).toEqual([]); // the call actor logs the failure it receives, once
  });
});

describe("Whisper in process (sherpa-onnx)", () => {
  it("refuses a model directory without the files, naming the download command and WHISPER_MODEL_DIR", async () => {
    const dir = await mkdtemp(join(tmpdir(), "whisper-empty-"));
    try {
      await expect(loadSherpaWhisper({ model: "tiny.en", modelDir: dir })).rejects.toThrow(
        /tiny\.en-encoder\.int8\.onnx.*npm run models -- download whisper.*WHISPER_MODEL_DIR/s,
      );
      const run = openRun({ baseUrl: undefined, modelDir: dir });
      await run.until((e) => e.type === "failed");
      await run.session.close();
      expect(run.events).toHaveLength(1);
      expect(run.errors).toEqual([]);
      expect((run.events[0] as Extract<SttEvent, { type: "failed" }>).error.message).toContain(dir);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
