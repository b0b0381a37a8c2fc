import { describe, expect, it } from "vitest";
import { defaultCallConfig } from "../../machines/call-config.js";
import {
  formatTapeLine,
  isInput,
  isOutput,
  parseTape,
  TAPE_FORMAT,
  TAPE_VERSION,
  TapeFormatError,
  tapeCallConfig,
} from "../../src/tapes/tape-format.js";

const header = {
  format: TAPE_FORMAT,
  version: TAPE_VERSION,
  callId: "CA1",
  callSid: "CA1",
  streamSid: "MZ1",
  recordedAt: "2025-01-01T00:00:00.000Z",
  config: defaultCallConfig,
  engines: { stt: "deepgram", llm: "openai", tts: "kokoro" },
  phrases: { [defaultCallConfig.phrases.greeting]: { bytes: 800, sha: "0123456789abcdef" } },
  audio: false,
};

const lines = [
  formatTapeLine(header),
  formatTapeLine({ t: 0.5, in: "twilio.start", callSid: "CA1", streamSid: "MZ1", customParameters: {} }),
  formatTapeLine({ t: 0.7, out: "state", value: "active.greeting" }),
  formatTapeLine({ t: 0.8, out: "media", bytes: 800, sha: "0123456789abcdef" }),
  formatTapeLine({ t: 100, in: "twilio.mark", name: "t0-s0-g1" }),
];

describe("parseTape", () => {
  it("reads the header and every line, telling inputs from outputs", () => {
    const tape = parseTape(lines.join(""), "call.jsonl");
    expect(tape.header.callSid).toBe("CA1");
    expect(
      tape.entries.map((entry) =>
        isInput(entry) ? `in ${entry.in}` : isOutput(entry) ? `out ${entry.out}` : "end",
      ),
    ).toEqual(["in twilio.start", "out state", "out media", "in twilio.mark"]);
    expect(tape.truncated).toBe(false);
  });

  it("leaves out a last line cut short by a crash, and says so", () => {
    const cut = lines.join("") + formatTapeLine({ t: 120, out: "mark", name: "t1-s0-g2" }).slice(0, 20);
    const tape = parseTape(cut, "crashed.jsonl");
    expect(tape.truncated).toBe(true);
    expect(tape.entries).toHaveLength(4);
  });

  it("refuses a damaged line in the middle, naming the file and the line", () => {
    const damaged = [...lines.slice(0, 2), '{"t": 1, "out": "sta\n', ...lines.slice(2)].join("");
    expect(() => parseTape(damaged, "bad.jsonl")).toThrow(
      new TapeFormatError("bad.jsonl", 3, "not valid JSON"),
    );
  });

  it("refuses a line that is JSON but not a tape line, saying what is wrong", () => {
    const wrong = `${lines[0]}${formatTapeLine({ t: 1, out: "media", bytes: "many" })}`;
    expect(() => parseTape(wrong, "x.jsonl")).toThrow(/x\.jsonl:2: bytes: /);
    const unknown = `${lines[0]}${formatTapeLine({ t: 1, sideways: true })}`;
    expect(() => parseTape(unknown, "x.jsonl")).toThrow(/x\.jsonl:2: a tape line needs "in", "out" or "end"/);
  });

  it("refuses a tape of another format version with a clear message", () => {
    const future = formatTapeLine({ ...header, version: 3 });
    expect(() => parseTape(future, "new.jsonl")).toThrow(
      /new\.jsonl:1: tape format version 3 is not supported/,
    );
    // Version 1 held Deepgram-shaped STT results: the message says what to do with such a tape.
    const old = formatTapeLine({ ...header, version: 1 });
    expect(() => parseTape(old, "old.jsonl")).toThrow(
      /old\.jsonl:1: .*Deepgram-shaped .*record the call again/,
    );
  });

  it("refuses an empty file and a file whose first line is not a header", () => {
    expect(() => parseTape("", "empty.jsonl")).toThrow(/empty tape/);
    expect(() => parseTape(lines.slice(1).join(""), "headless.jsonl")).toThrow(
      /headless\.jsonl:1: not a tape header/,
    );
  });
});

describe("tapeCallConfig", () => {
  it("replays with the recorded settings, overrides on top", () => {
    const recorded = { ...header, config: { ...defaultCallConfig, idleRepromptMs: 4000 } };
    const tape = parseTape(formatTapeLine(recorded), "t");
    expect(tapeCallConfig(tape.header).idleRepromptMs).toBe(4000);
    expect(tapeCallConfig(tape.header, { idleRepromptMs: 2500 }).idleRepromptMs).toBe(2500);
  });

  it("fills settings an older tape lacks with today's defaults", () => {
    // JSON drops an undefined setting: the tape reads as one recorded before the setting existed.
    const tape = parseTape(
      formatTapeLine({ ...header, config: { ...defaultCallConfig, bargeInMinWords: undefined } }),
      "t",
    );
    expect(tape.header.config).not.toHaveProperty("bargeInMinWords");
    expect(tapeCallConfig(tape.header).bargeInMinWords).toBe(defaultCallConfig.bargeInMinWords);
  });

  it("refuses overrides the statechart cannot run with", () => {
    const tape = parseTape(lines[0] as string, "t");
    expect(() => tapeCallConfig(tape.header, { idleRepromptMs: -5 })).toThrow(
      /idleRepromptMs must be a positive/,
    );
  });
});
