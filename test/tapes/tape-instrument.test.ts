/**
 * The tape recorder as the server runs it: an instrument of the call factory writing one file per call, line
 * by line, so a tape read in the middle of a call (or after a crash) is already valid and replayable.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { callConfig } from "../../machines/call-config.js";
import { createCallFactory } from "../../src/call-factory.js";
import { createLogger, type Log } from "../../src/logger.js";
import { AudioFingerprints } from "../../src/tapes/audio-fingerprints.js";
import { replayTape } from "../../src/tapes/replay.js";
import { isInput, isOutput, parseTape } from "../../src/tapes/tape-format.js";
import { createTapeRecorderInstrument } from "../../src/tapes/tape-instrument.js";
import { CallTapeRecorder } from "../../src/tapes/tape-recorder.js";
import type { StreamOutput } from "../../src/twilio/media-stream-session.js";
import { cachedPhrases, FakeStt, FakeTts, RecordingTelephony, ScriptedLlm } from "../machines/call-fakes.js";
import { LogCapture } from "../support/test-server.js";

const CALL_SID = "CA0123456789abcdef0123456789abcdef";
const START = { callSid: CALL_SID, streamSid: "MZ0123456789abcdef0123456789abcdef", customParameters: {} };
const settle = () => new Promise((resolve) => setTimeout(resolve, 20));

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function tapesDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "tapes-"));
  dirs.push(dir);
  return dir;
}

/** One call through the real call factory, its engines faked, taped into `dir`. */
function startTapedCall(dir: string, options: { audio?: boolean } = {}) {
  const config = callConfig();
  const phrases = cachedPhrases(Object.values(config.phrases));
  const stt = new FakeStt();
  const llm = new ScriptedLlm();
  const logs = new LogCapture();
  const log = createLogger({ level: "debug", secrets: [], destination: logs }) as unknown as Log;
  const sent: string[] = [];
  const output: StreamOutput = {
    sendMedia: (audio) => sent.push(`media ${audio.length}`),
    sendMark: (name) => sent.push(`mark ${name}`),
    sendClear: () => sent.push("clear"),
    close: () => sent.push("close"),
  };
  const createCall = createCallFactory({
    engines: { stt, llm, tts: new FakeTts() },
    phrases,
    config,
    instruments: [createTapeRecorderInstrument({ dir, phrases, audio: options.audio })],
  });
  const call = createCall(START, output, log);
  const tapePath = () => join(dir, readdirSync(dir)[0] as string);
  return { call, stt, llm, sent, logs, tapePath, read: () => readFileSync(tapePath(), "utf8") };
}

describe("the tape recorder instrument", () => {
  it("writes each call to <start time>-<CallSid>.jsonl, a line as soon as it happens", async () => {
    const dir = tapesDir();
    const taped = startTapedCall(dir);
    expect(readdirSync(dir)).toEqual([
      expect.stringMatching(new RegExp(`^\\d{4}-\\d\\d-\\d\\dT[\\d-]+\\.\\d{3}Z-${CALL_SID}\\.jsonl$`)),
    ]);

    // Mid-call: the greeting went out and is on the tape already, before the call is over.
    const midCall = parseTape(taped.read(), "mid-call");
    expect(midCall.header).toMatchObject({
      callSid: CALL_SID,
      engines: { stt: "fake-stt", llm: "scripted-llm", tts: "fake-tts" },
    });
    expect(midCall.entries.filter(isOutput).map((entry) => entry.out)).toEqual([
      "stt.open",
      "state",
      "media",
      "mark",
    ]);
    expect(taped.sent).toEqual([expect.stringMatching(/^media /), "mark t0-s0-g1"]);

    taped.call.onMark("t0-s0-g1");
    taped.stt.utterance("Hello there.");
    await settle();
    taped.llm.current.text("Hi! ").end();
    await settle();
    taped.call.onStop();
    taped.call.onClose();

    const tape = parseTape(taped.read(), "done");
    expect(tape.entries.at(-1)).toMatchObject({ end: "stream closed", callerFrames: 0 });
    expect(tape.entries.filter(isInput).map((entry) => entry.in)).toEqual([
      "twilio.start",
      "twilio.mark",
      "stt.speechStarted",
      "stt.final",
      "stt.speechEnded",
      "llm.text",
      "llm.end",
      "tts.audio",
      "tts.end",
      "twilio.stop",
    ]);
    expect((await replayTape(tape)).divergence).toBeUndefined();
  });

  it("leaves a tape that replays up to where it stops when the process dies mid-call", async () => {
    const taped = startTapedCall(tapesDir());
    taped.call.onMark("t0-s0-g1");
    taped.stt.utterance("Hello there.");
    await settle();

    // What a crash leaves: every line written so far, the last one possibly half written.
    const crashed = `${taped.read()}{"t":812.5,"in":"llm.te`;
    const tape = parseTape(crashed, "crashed.jsonl");
    expect(tape.truncated).toBe(true);
    expect(tape.entries.at(-1)).toMatchObject({ out: "llm.request" });
    const result = await replayTape(tape);
    expect(result.divergence).toBeUndefined();
    expect(result.replayedOutputs.at(-1)).toMatchObject({ out: "llm.request", req: 1 });
    taped.call.onClose();
  });

  it("keeps the raw audio of both sides when asked, and replays from it", async () => {
    const taped = startTapedCall(tapesDir(), { audio: true });
    // 60 frames: one full second of caller audio, then the rest when the stream closes.
    for (let i = 0; i < 60; i++) taped.call.onAudio(new Uint8Array(160).fill(i));
    taped.call.onMark("t0-s0-g1");
    taped.stt.utterance("Hello there.");
    await settle();
    taped.llm.current.text("Hi! ").end();
    await settle();
    taped.call.onStop();
    taped.call.onClose();

    const tape = parseTape(taped.read(), "audio");
    expect(tape.header.audio).toBe(true);
    expect(Object.values(tape.header.phrases).every((ref) => ref?.audio !== undefined)).toBe(true);
    const callerAudio = tape.entries.flatMap((entry) =>
      isInput(entry) && entry.in === "audio.in" ? [entry] : [],
    );
    expect(callerAudio.map((line) => [line.frames, Buffer.from(line.audio, "base64").length])).toEqual([
      [50, 8000],
      [10, 1600],
    ]);
    expect(Buffer.from(callerAudio[1]?.audio ?? "", "base64")[0]).toBe(50);
    const tts = tape.entries.find((entry) => isInput(entry) && entry.in === "tts.audio");
    expect(Buffer.from((tts as { audio: string }).audio, "base64").toString()).toBe("Hi! ");
    expect(tape.entries.at(-1)).toMatchObject({ callerFrames: 60 });
    expect((await replayTape(tape)).divergence).toBeUndefined();
  });

  it("attaches nothing, so the call goes on untaped, when the file cannot be opened", async () => {
    const dir = tapesDir();
    const instrument = createTapeRecorderInstrument({ dir: join(dir, "gone") });
    rmSync(join(dir, "gone"), { recursive: true });
    const logs = new LogCapture();
    const log = createLogger({ level: "debug", secrets: [], destination: logs }) as unknown as Log;

    expect(instrument.attach({ start: START, config: callConfig(), log })).toEqual({});
    expect(logs.messages()).toContain("cannot record this call's tape; the call goes on without one");
    expect(existsSync(join(dir, "gone"))).toBe(false);
  });

  it("refuses a tapes directory it cannot create, naming it", () => {
    // A path through a regular file can never become a directory.
    expect(() => createTapeRecorderInstrument({ dir: "/dev/null/tapes" })).toThrow(
      /CALL_TAPES_DIR \/dev\/null\/tapes cannot be created/,
    );
  });
});

describe("the tape recorder", () => {
  it("stops recording after a failed write, tells once, and never breaks the call", () => {
    const errors: unknown[] = [];
    const failingSink = {
      write: () => {
        throw new Error("disk full");
      },
      close: () => {},
    };
    const recorder = new CallTapeRecorder({
      sink: failingSink,
      clock: { now: () => 0 },
      fingerprints: new AudioFingerprints(),
      onError: (error) => errors.push(error),
    });
    const telephony = new RecordingTelephony();
    const wrapped = recorder.wrapEngines({
      stt: new FakeStt(),
      llm: new ScriptedLlm(),
      tts: new FakeTts(),
      telephony,
    });

    wrapped.telephony.sendMark("a");
    wrapped.telephony.sendMark("b");

    expect(telephony.log).toEqual(["mark a", "mark b"]);
    expect(errors).toEqual([new Error("disk full")]);
  });
});
