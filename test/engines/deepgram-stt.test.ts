import { readFileSync } from "node:fs";
import { createServer } from "node:net";
import { fileURLToPath } from "node:url";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { EngineError, type SttEvent, type SttSession } from "../../machines/engines.js";
import { readWav } from "../../src/audio/wav.js";
import { AudioRing } from "../../src/engines/deepgram/audio-ring.js";
import { DeepgramSttEngine, type DeepgramSttOptions } from "../../src/engines/deepgram-stt.js";
import type { EngineLogger } from "../../src/engines/engine-logger.js";
import { FakeDeepgram } from "../fakes/fake-deepgram.js";

const SHARED = fileURLToPath(new URL("../../fixtures/real/", import.meta.url));

/** The mu-law samples of a real speech fixture (8 kHz, header stripped). */
function speech(name: string): Uint8Array {
  const wav = readWav(readFileSync(`${SHARED}audio/${name}-8k-mulaw.wav`));
  if (wav.format !== "mulaw" || wav.sampleRate !== 8000) throw new Error(`${name} is not mu-law 8 kHz`);
  return wav.samples;
}
const silence = (ms: number) => new Uint8Array(ms * 8).fill(0xff);
const concat = (...parts: Uint8Array[]) => Uint8Array.from(Buffer.concat(parts));

/**
 * Sends `audio` as Twilio does: 160-byte frames through ONE reused buffer, so any frame the adapter keeps
 * without copying would be overwritten by the next.
 */
function sendFrames(session: SttSession, audio: Uint8Array): void {
  const frame = new Uint8Array(160);
  for (let i = 0; i < audio.length; i += 160) {
    const piece = audio.subarray(i, i + 160);
    frame.set(piece);
    session.sendAudio(piece.length === 160 ? frame : frame.subarray(0, piece.length));
  }
}

interface LogLine {
  level: keyof EngineLogger;
  fields: Record<string, unknown>;
  message: string;
}

let fake: FakeDeepgram;
let logs: LogLine[];
let sessions: SttSession[];

beforeEach(async () => {
  fake = await FakeDeepgram.start();
  logs = [];
  sessions = [];
});
afterEach(async () => {
  await Promise.all(sessions.map((s) => s.close()));
  await fake.close();
});

function engine(options: Partial<DeepgramSttOptions> = {}): DeepgramSttEngine {
  const at = (level: keyof EngineLogger) => (fields: object, message: string) =>
    logs.push({ level, fields: fields as Record<string, unknown>, message });
  return new DeepgramSttEngine({
    apiKey: fake.apiKey,
    baseUrl: fake.url,
    reconnectBaseDelayMs: 10,
    logger: { debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") },
    ...options,
  });
}

function open(e: DeepgramSttEngine, callId = "CA-test"): { session: SttSession; events: SttEvent[] } {
  const events: SttEvent[] = [];
  const session = e.open({ callId, onEvent: (event) => events.push(event) });
  sessions.push(session);
  return { session, events };
}

const until = (check: () => void) => vi.waitFor(check, { timeout: 8000, interval: 5 });
type Words = Extract<SttEvent, { type: "interim" | "final" }>;
const transcripts = (events: SttEvent[]) =>
  events.filter((e): e is Words => e.type === "interim" || e.type === "final");
const finals = (events: SttEvent[]) => transcripts(events).filter((e) => e.type === "final");
/** Deepgram sent its UtteranceEnd (after the last results): everything of the utterance was reported. */
const utteranceOver = (connection: { sent: { type?: unknown }[] } | undefined) =>
  expect(connection?.sent.some((m) => m.type === "UtteranceEnd")).toBe(true);
const bytesOf = (connection: { audioChunks: Buffer[] } | undefined) =>
  Uint8Array.from(Buffer.concat(connection?.audioChunks ?? []));

describe("DeepgramSttEngine streaming", () => {
  it("connects with the configured options and turns Deepgram's messages into events", async () => {
    fake.script("Testing. 123. Testing. 123.");
    const { session, events } = open(engine({ keyterms: ["Officero"] }));
    sendFrames(session, concat(speech("deepgram-testing-websocket"), silence(1500)));

    await until(() => utteranceOver(fake.connections[0]));
    await until(() => expect(events.at(-1)?.type).toBe("speechEnded"));
    const connection = fake.connections[0];
    expect(connection?.headers.authorization).toBe(`Token ${fake.apiKey}`);
    expect(Object.fromEntries(connection?.query ?? [])).toMatchObject({
      model: "nova-3",
      language: "en",
      encoding: "mulaw",
      sample_rate: "8000",
      channels: "1",
      interim_results: "true",
      endpointing: "300",
      utterance_end_ms: "1000",
      vad_events: "true",
      smart_format: "true",
      keyterm: "Officero",
    });

    // One utterance: speech started, interim words, the final, and speech_final's end of speech.
    const types = events.map((e) => e.type);
    expect(types[0]).toBe("speechStarted");
    expect(types.filter((t) => t === "speechStarted")).toHaveLength(1);
    expect(types.slice(-2)).toEqual(["final", "speechEnded"]);
    expect(types.filter((t) => t === "interim").length).toBeGreaterThan(0);
    const results = transcripts(events);
    expect(finals(events)).toHaveLength(1);
    const final = finals(events)[0] as Words;
    expect(final.text).toBe("Testing. 123. Testing. 123.");
    // Every event is what the fake sent, field for field.
    const sentResults = connection?.sent.filter((m) => m.type === "Results") ?? [];
    expect(results.map((e) => [e.text, e.type === "final", e.start, e.end])).toEqual(
      sentResults
        .filter(
          (m) => (m.channel as { alternatives: { transcript: string }[] }).alternatives[0]?.transcript !== "",
        )
        .map((m) => [
          (m.channel as { alternatives: { transcript: string }[] }).alternatives[0]?.transcript,
          m.is_final,
          m.start,
          Math.round(((m.start as number) + (m.duration as number)) * 1000) / 1000,
        ]),
    );
    const started = events[0] as Extract<SttEvent, { type: "speechStarted" }>;
    const ended = events.at(-1) as Extract<SttEvent, { type: "speechEnded" }>;
    expect(started.at).toBe(connection?.sent.find((m) => m.type === "SpeechStarted")?.timestamp);
    expect(ended.at).toBe(final.end);
  });

  it("loses no audio sent before the socket opened, even from a reused frame buffer", async () => {
    const audio = concat(speech("speechcommands-yes_1000ms"), silence(500));
    const { session } = open(engine());
    sendFrames(session, audio); // all of it before the handshake can have finished

    await until(() => expect(fake.connections[0]?.audioBytes).toBe(audio.length));
    expect(bytesOf(fake.connections[0])).toEqual(audio);
  });

  it("keeps only the newest audio when more arrives than the buffer holds, and says so", async () => {
    const audio = concat(speech("speechcommands-no_1000ms"), speech("speechcommands-yes_1000ms"));
    const { session } = open(engine({ maxBufferedMs: 1000 }));
    sendFrames(session, audio);

    await until(() => expect(fake.connections[0]?.audioBytes).toBe(8000));
    expect(bytesOf(fake.connections[0])).toEqual(audio.subarray(audio.length - 8000));
    expect(logs.filter((l) => l.level === "warn" && /buffer is full/.test(l.message))).toHaveLength(1);
  });

  it("sends KeepAlive while no audio flows, which keeps an idle stream open", async () => {
    await fake.close();
    fake = await FakeDeepgram.start({ idleTimeoutMs: 200 });
    open(engine({ keepAliveIntervalMs: 20 }));

    await until(() =>
      expect(fake.connections[0]?.controls.filter((c) => c === "KeepAlive").length).toBeGreaterThan(20),
    );
    expect(fake.connections[0]?.controls.every((c) => c === "KeepAlive")).toBe(true);
    expect(fake.connections[0]?.closed).toBeUndefined(); // > 20 intervals of 20 ms, past the 200 ms idle limit
    expect(fake.connections).toHaveLength(1);
  });

  it("sends Finalize and reports the flushed final", async () => {
    fake.script("yes");
    const { session, events } = open(engine());
    sendFrames(session, speech("speechcommands-yes_1000ms")); // speech still going on: no final yet
    await until(() => expect(fake.connections[0]?.audioBytes).toBe(8000));
    session.finalize();

    await until(() => expect(finals(events)).toHaveLength(1));
    expect(fake.connections[0]?.controls).toEqual(["Finalize"]);
    expect(finals(events)[0]).toMatchObject({ type: "final", text: "yes" });
    expect(fake.connections[0]?.sent.at(-1)).toMatchObject({ type: "Results", from_finalize: true });
  });

  it("sends CloseStream on close, delivers the last results and waits for Deepgram to close", async () => {
    fake.script("no");
    const { session, events } = open(engine());
    sendFrames(session, speech("speechcommands-no_1000ms"));
    await until(() => expect(fake.connections[0]?.audioBytes).toBe(8000));

    await session.close();
    expect(fake.connections[0]?.controls).toEqual(["CloseStream"]);
    expect(finals(events).map((e) => e.text)).toEqual(["no"]);
    expect(fake.connections[0]?.sent.at(-1)?.type).toBe("Metadata");
    await until(() => expect(fake.connections[0]?.closed).toEqual({ code: 1000, by: "server" }));
    await session.close(); // idempotent
    session.sendAudio(silence(20)); // ignored after close, no throw
    expect(fake.connections).toHaveLength(1);
  });

  it("converts to PCM16 16 kHz when asked, and the fake hears the same speech", async () => {
    fake.script("yes");
    const audio = concat(speech("speechcommands-yes_1000ms"), silence(1500));
    const { session, events } = open(engine({ encoding: "linear16" }));
    sendFrames(session, audio);

    await until(() => utteranceOver(fake.connections[0]));
    await until(() => expect(events.at(-1)?.type).toBe("speechEnded"));
    const connection = fake.connections[0];
    expect(connection?.query.get("encoding")).toBe("linear16");
    expect(connection?.query.get("sample_rate")).toBe("16000");
    expect(finals(events).map((e) => e.text)).toEqual(["yes"]);
    await session.close();
    // Two bytes per sample, twice the samples: four bytes for every mu-law byte.
    expect(connection?.audioBytes).toBe(audio.length * 4);
  });
});

describe("DeepgramSttEngine reconnect", () => {
  it("reconnects after a dropped socket, loses none of the audio sent meanwhile and keeps call time", async () => {
    fake.script("yes", "no");
    const first = concat(speech("speechcommands-yes_1000ms"), silence(1500));
    const second = concat(speech("speechcommands-no_1000ms"), silence(1500));
    const { session, events } = open(engine());
    sendFrames(session, first);
    await until(() => utteranceOver(fake.connections[0]));
    await until(() => expect(events.at(-1)?.type).toBe("speechEnded"));
    await until(() => expect(fake.connections[0]?.audioBytes).toBe(first.length));

    fake.refuseNextHandshakes(2, 503); // Deepgram stays away for two attempts
    fake.drop(0);
    await until(() => expect(fake.handshakes.length).toBeGreaterThanOrEqual(2)); // the client noticed
    sendFrames(session, second);

    await until(() => expect(fake.connections[1]?.audioBytes).toBe(second.length));
    expect(bytesOf(fake.connections[1])).toEqual(second);
    expect(fake.handshakes.map((h) => h.status)).toEqual([101, 503, 503, 101]);

    await until(() => expect(finals(events).map((e) => e.text)).toEqual(["yes", "no"]));
    // Deepgram restarts its clock on the new connection; the adapter shifts it back to call time.
    const offset = first.length / 8000;
    const sentOnSecond = fake.connections[1]?.sent.find((m) => m.type === "SpeechStarted")
      ?.timestamp as number;
    const startedAgain = events.filter((e) => e.type === "speechStarted")[1];
    expect(startedAgain).toEqual({ type: "speechStarted", at: sentOnSecond + offset });
    expect(logs.some((l) => l.level === "warn" && /connection lost/.test(l.message))).toBe(true);
    expect(logs.some((l) => l.level === "info" && /reconnected/.test(l.message))).toBe(true);
    expect(events.some((e) => e.type === "failed")).toBe(false);
  });

  it("reconnects after Deepgram closes with 1011", async () => {
    const { session } = open(engine());
    await fake.waitFor("a connection", () => fake.connections.length === 1);
    fake.closeConnection(0, 1011, "NET-0001");
    await fake.waitFor("a second connection", () => fake.connections.length === 2);
    sendFrames(session, silence(100));
    await until(() => expect(fake.connections[1]?.audioBytes).toBe(800));
  });

  it("reports failed after the configured number of attempts, and logs no error line of its own", async () => {
    const { session, events } = open(engine({ maxConnectAttempts: 3 }), "CA-gives-up");
    await fake.waitFor("a connection", () => fake.connections.length === 1);
    fake.refuseNextHandshakes(10, 503);
    fake.drop(0);

    await until(() => expect(events.at(-1)?.type).toBe("failed"));
    const failed = events.at(-1) as Extract<SttEvent, { type: "failed" }>;
    expect(failed.error).toBeInstanceOf(EngineError);
    expect(failed.error).toMatchObject({ engine: "stt", kind: "connect" });
    expect(failed.error.message).toMatch(/after 3 attempts/);
    expect(fake.handshakes.map((h) => h.status)).toEqual([101, 503, 503, 503]);
    // The call actor writes the failure's one line (test/machines/call.failures.test.ts); the retries before
    // it, which the call never sees, are the adapter's warnings.
    expect(logs.filter((l) => l.level === "error")).toEqual([]);
    expect(logs.filter((l) => l.level === "warn" && /connection failed/.test(l.message))).toHaveLength(2);
    expect(() => sendFrames(session, silence(100))).not.toThrow();
    await session.close();
  });

  it("fails at once, without retrying, when the API key is refused", async () => {
    const { events } = open(engine({ apiKey: "wrong-key-123" }));

    await until(() => expect(events).toHaveLength(1));
    expect(events[0]).toMatchObject({ type: "failed", error: { kind: "connect" } });
    const failed = events[0] as Extract<SttEvent, { type: "failed" }>;
    expect(failed.error.message).toBe("Deepgram rejected the API key (HTTP 401)");
    expect(fake.handshakes.map((h) => h.status)).toEqual([401]);
    expect(JSON.stringify(logs)).not.toContain("wrong-key-123");
  });

  it("fails with a protocol error when Deepgram cannot decode the audio (1008)", async () => {
    const { events } = open(engine());
    await fake.waitFor("a connection", () => fake.connections.length === 1);
    fake.closeConnection(0, 1008, "DATA-0000");

    await until(() => expect(events.at(-1)).toMatchObject({ type: "failed", error: { kind: "protocol" } }));
    expect(fake.handshakes).toHaveLength(1);
  });
});

describe("DeepgramSttEngine messages", () => {
  it("maps real captured results onto the caller's speech, and drops malformed messages with a log line", async () => {
    const { session, events } = open(engine());
    await fake.waitFor("a connection", () => fake.connections.length === 1);
    const realFinal = JSON.parse(
      readFileSync(`${SHARED}deepgram-live/nova3-testing.final-result.json`, "utf8"),
    );
    const emptyFinal = JSON.parse(
      readFileSync(`${SHARED}deepgram-live/base-testing.final-result.json`, "utf8"),
    );
    fake.inject(0, "not json at all");
    fake.inject(0, { type: "Results", is_final: true, channel: [0, 1] });
    fake.inject(0, { type: "SomethingNew", detail: 1 });
    fake.inject(0, { ...emptyFinal, is_final: false }); // an empty interim: nothing to say
    fake.inject(0, emptyFinal); // an empty final while nobody speaks: nothing either
    fake.inject(0, realFinal);
    // After speech_final ended the utterance, its UtteranceEnd has nothing left to end.
    fake.inject(0, { type: "UtteranceEnd", channel: [0, 1], last_word_end: 3.64 });
    fake.inject(0, { type: "SpeechStarted", channel: [0, 1], timestamp: 5.1 });

    await until(() => expect(events.at(-1)?.type).toBe("speechStarted"));
    expect(events).toEqual([
      // Words without a SpeechStarted before them: they start the speech.
      { type: "speechStarted", at: 0.74 },
      {
        type: "final",
        text: "Testing. 123. Testing. 123.",
        start: 0.74,
        end: 3.82,
        confidence: 0.987885,
      },
      { type: "speechEnded", at: 3.82 },
      { type: "speechStarted", at: 5.1 },
    ]);
    const dropped = logs.filter((l) => l.level === "warn" && /message dropped/.test(l.message));
    expect(dropped.map((l) => l.message)).toEqual([
      expect.stringMatching(/not a JSON object/),
      expect.stringMatching(/malformed Results/),
    ]);
    session.sendAudio(silence(20)); // the session still works
    await until(() => expect(fake.connections[0]?.audioBytes).toBe(160));
  });

  it("keeps running when the event handler throws", async () => {
    const e = engine();
    const session = e.open({
      callId: "CA-throws",
      onEvent: () => {
        throw new Error("handler bug");
      },
    });
    sessions.push(session);
    await fake.waitFor("a connection", () => fake.connections.length === 1);
    fake.inject(0, { type: "SpeechStarted", channel: [0, 1], timestamp: 1 });
    await until(() =>
      expect(logs.some((l) => l.level === "error" && /handler threw/.test(l.message))).toBe(true),
    );
    sendFrames(session, silence(20));
    await until(() => expect(fake.connections[0]?.audioBytes).toBe(160));
  });
});

describe("DeepgramSttEngine configuration", () => {
  it("refuses a missing key or contradictory options at construction, by name", () => {
    expect(() => new DeepgramSttEngine({ apiKey: "" })).toThrow(/DEEPGRAM_API_KEY/);
    expect(() => engine({ interimResults: false })).toThrow(/utterance_end_ms needs interim results/);
    expect(() => engine({ baseUrl: "ftp://example" })).toThrow(/ws\(s\) or http\(s\)/);
    expect(() => engine({ keepAliveIntervalMs: 0 })).toThrow(/keepAliveIntervalMs/);
  });

  it("leaves utterance_end_ms out when disabled, and allows endpointing off", async () => {
    open(engine({ utteranceEndMs: null, endpointingMs: false, interimResults: false }));
    await fake.waitFor("a connection", () => fake.connections.length === 1);
    const query = fake.connections[0]?.query;
    expect(query?.has("utterance_end_ms")).toBe(false);
    expect(query?.get("endpointing")).toBe("false");
    expect(query?.get("interim_results")).toBe("false");
  });

  it("probe passes with a good key and names the problem otherwise", async () => {
    await expect(engine().probe()).resolves.toBeUndefined();
    await until(() => expect(fake.connections[0]?.controls).toEqual(["CloseStream"]));
    await expect(engine({ apiKey: "bad" }).probe()).rejects.toThrow(
      "Deepgram rejected the API key (HTTP 401)",
    );
    const port = await freePort();
    await expect(engine({ baseUrl: `ws://127.0.0.1:${port}` }).probe()).rejects.toMatchObject({
      kind: "connect",
      message: expect.stringMatching(/ECONNREFUSED/),
    });
  });
});

describe("AudioRing", () => {
  it("drains in order across the wrap and drops whole samples, oldest first", () => {
    const ring = new AudioRing(8, 2);
    expect(ring.write(Uint8Array.of(1, 2, 3, 4, 5, 6))).toBe(0);
    const out: number[] = [];
    ring.drain((view) => out.push(...view));
    expect(out).toEqual([1, 2, 3, 4, 5, 6]);
    ring.write(Uint8Array.of(7, 8, 9, 10)); // wraps
    expect(ring.write(Uint8Array.of(11, 12, 13, 14, 15, 16))).toBe(2);
    const views: number[][] = [];
    ring.drain((view) => views.push([...view]));
    expect(views.flat()).toEqual([9, 10, 11, 12, 13, 14, 15, 16]);
    expect(ring.pendingBytes).toBe(0);
    expect(ring.write(new Uint8Array(12).fill(1))).toBe(4); // bigger than the ring: keeps the newest 8
    expect(ring.pendingBytes).toBe(8);
  });
});

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === "string") throw new Error("no port");
  return address.port;
}
