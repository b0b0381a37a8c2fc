/**
 * The API the stream route uses: `startCall` (one method per Twilio message), the sanitizers for inspectors
 * and tapes, and what happens when the call actor itself fails.
 */
import { describe, expect, it } from "vitest";
import { startCall } from "../../machines/call-actor.js";
import { defaultCallConfig } from "../../machines/call-config.js";
import { inspectableContext, inspectableEvent } from "../../machines/call-types.js";
import {
  audioOf,
  CountingClock,
  cachedPhrases,
  FakeStt,
  FakeTts,
  RecordingTelephony,
  ScriptedLlm,
} from "./call-fakes.js";
import { CALL_SID, STREAM_SID, settle } from "./call-harness.js";

const { greeting } = defaultCallConfig.phrases;

function engines() {
  return {
    stt: new FakeStt(),
    llm: new ScriptedLlm(),
    tts: new FakeTts(),
    telephony: new RecordingTelephony(),
  };
}

describe("startCall", () => {
  it("greets on creation and maps each Twilio message to the call", async () => {
    const fakes = engines();
    const call = startCall({
      callId: "call-7",
      engines: fakes,
      config: defaultCallConfig,
      phrases: cachedPhrases([greeting]),
      clock: new CountingClock(),
      start: { callSid: CALL_SID, streamSid: STREAM_SID, customParameters: { from: "+15550111" } },
    });
    expect(fakes.telephony.take()).toEqual([`media ${greeting}`, "mark t0-s0-g1"]);

    call.onAudio(new Uint8Array(160));
    expect(fakes.stt.session.framesReceived).toBe(1);
    call.onMark("t0-s0-g1");
    expect(call.actor.getSnapshot().matches({ active: "listening" })).toBe(true);
    call.onDtmf("7");
    expect(call.actor.getSnapshot().matches({ active: { listening: "collectingDigits" } })).toBe(true);
    call.onStop();
    call.onClose();
    await settle();
    expect(fakes.telephony.take()).toEqual(["closeStream"]);
    expect(fakes.stt.session.closed).toBe(true);
    expect(call.actor.getSnapshot().status).toBe("done");
  });

  it("logs a broken socket and goes on until the socket's close ends the call", async () => {
    const fakes = engines();
    fakes.telephony.sendMedia = () => {
      throw new Error("socket exploded");
    };
    const logs: string[] = [];
    const call = startCall({
      callId: "call-8",
      engines: fakes,
      config: defaultCallConfig,
      phrases: cachedPhrases([greeting]),
      log: (level, message, details) => logs.push(`${level} ${message} ${String(details.callId)}`),
      start: { callSid: CALL_SID, streamSid: STREAM_SID, customParameters: {} },
    });
    await settle();
    expect(logs).toEqual(["error telephony failed while sending media: socket exploded call-8"]);
    expect(fakes.telephony.take()).toEqual(["mark t0-s0-g1"]);
    call.onClose();
    expect(call.actor.getSnapshot().status).toBe("done");
  });

  it("turns a bug inside the call actor into a logged, closed call instead of a crash", async () => {
    const fakes = engines();
    const logs: string[] = [];
    const call = startCall({
      callId: "call-8",
      engines: fakes,
      config: defaultCallConfig,
      phrases: cachedPhrases([greeting]),
      // A logger that throws is a bug outside the machine's control, like any exception in an action.
      log: (level, message, details) => {
        logs.push(`${level} ${message} ${String(details.callId)}`);
        if (message.includes("interrupted")) throw new Error("logger bug");
      },
      start: { callSid: CALL_SID, streamSid: STREAM_SID, customParameters: {} },
    });
    fakes.stt.emit({ type: "speechStarted", at: 0 });
    fakes.stt.emit({ type: "interim", text: "hold on please", start: 0, end: 1, confidence: 1 });
    await settle();
    expect(call.actor.getSnapshot().status).toBe("error");
    expect(logs).toEqual([
      "info the caller interrupted the agent call-8",
      "error the call actor failed; ending its call call-8",
    ]);
    expect(fakes.telephony.take()).toEqual([`media ${greeting}`, "mark t0-s0-g1", "clear", "closeStream"]);
    expect(fakes.stt.session.closed).toBe(true);
  });
});

describe("inspection helpers", () => {
  it("leave the engines out of the context, so it serialises", () => {
    const fakes = engines();
    const call = startCall({
      callId: "call-9",
      engines: fakes,
      config: defaultCallConfig,
      clock: new CountingClock(),
      start: { callSid: CALL_SID, streamSid: STREAM_SID, customParameters: {} },
    });
    const data = inspectableContext(call.actor.getSnapshot().context);
    expect(data).not.toHaveProperty("deps");
    expect(JSON.parse(JSON.stringify(data))).toMatchObject({ callId: "call-9", callSid: CALL_SID, turn: 0 });
  });

  it("replace audio by its length", () => {
    const audio = { type: "speech.audio", generation: 3, audio: audioOf("Hello") };
    expect(inspectableEvent(audio)).toEqual({ type: "speech.audio", generation: 3, audio: "5 bytes" });
    const mark = { type: "twilio.mark", name: "t0-s0-g1" };
    expect(inspectableEvent(mark)).toBe(mark);
  });
});
