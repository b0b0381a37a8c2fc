/**
 * How calls end: the caller hangs up in any state, the agent hangs up (tool, idle, maximum duration), or
 * transfers the call. Each asserts the exact outbound messages and that nothing is left running.
 */
import { describe, expect, it } from "vitest";
import { defaultCallConfig } from "../../machines/call-config.js";
import { EngineError } from "../../machines/engines.js";
import { audioOf } from "./call-fakes.js";
import { CALL_SID, greetedCall, startTestCall, type TestCall } from "./call-harness.js";

const { greeting, goodbye, reprompt, apology, transfer } = defaultCallConfig.phrases;
const TRANSFER_NUMBER = "+15550100";

/** Nothing of the call is left: no timer, no STT session, no LLM request, no synthesis. */
function expectNothingLeftRunning(call: TestCall): void {
  expect(call.state()).toBe("ended");
  expect(call.actor.getSnapshot().status).toBe("done");
  expect(call.clock.pendingTimers).toBe(0);
  expect(call.stt.session.closed).toBe(true);
  expect(call.llm.requests.filter((request) => request.open)).toEqual([]);
  expect(call.tts.requests.filter((request) => request.open)).toEqual([]);
}

describe("the agent ends the call", () => {
  it("with the end_call tool: the reply, then the goodbye, then REST once the goodbye's mark is back", async () => {
    const call = await greetedCall();
    await call.says("That's all, thanks.");
    call.llm.current.text("You're welcome. ").toolCall("end_call").end();
    await call.playMarks(0);
    expect(call.state()).toBe("hangingUp.sayingGoodbye");
    expect(call.sent()).toEqual([
      "media You're welcome. ",
      "mark t1-s0-g2",
      `media ${goodbye}`,
      "mark t1-s1-g3",
    ]);

    await call.playMarks(1);
    expect(call.sent()).toEqual([]);
    // The caller's words no longer interrupt a goodbye.
    await call.interim("wait one more thing");
    expect(call.sent()).toEqual([]);
    await call.playMarks(1);
    expect(call.sent()).toEqual([`hangUp ${CALL_SID}`, "closeStream"]);
    expect(call.actor.getSnapshot().output).toEqual({
      reason: "agentHungUp",
      history: [
        { role: "assistant", content: greeting },
        { role: "user", content: "That's all, thanks." },
        { role: "assistant", content: `You're welcome. ${goodbye}` },
      ],
    });
    expect(call.emitted.at(-1)).toEqual({ type: "callEnded", reason: "agentHungUp" });
    expectNothingLeftRunning(call);
  });

  it("with end_call and no words: only the goodbye", async () => {
    const call = await greetedCall();
    await call.says("Bye.");
    call.llm.current.toolCall("end_call").end();
    await call.playMarks(0);
    expect(call.sent()).toEqual([`media ${goodbye}`, "mark t1-s0-g3"]);
    await call.playMarks();
    expect(call.sent()).toEqual([`hangUp ${CALL_SID}`, "closeStream"]);
  });

  it("hangs up after farewellMarkTimeoutMs when the goodbye's mark never comes back", async () => {
    const call = await greetedCall();
    await call.says("Bye.");
    call.llm.current.toolCall("end_call").end();
    await call.advance(call.config.farewellMarkTimeoutMs - 1);
    expect(call.sent()).toEqual([`media ${goodbye}`, "mark t1-s0-g3"]);
    await call.advance(1);
    expect(call.sent()).toEqual([`hangUp ${CALL_SID}`, "closeStream"]);
  });

  it("waits for the reply's queued audio on top of farewellMarkTimeoutMs before hanging up anyway", async () => {
    const call = await greetedCall();
    await call.says("That's all, thanks.");
    const reply = "You're welcome, have a lovely evening and stay safe. ";
    call.llm.current.text(reply).toolCall("end_call").end();
    const queuedMs = audioOf(reply).length / 8;
    await call.advance(call.config.farewellMarkTimeoutMs + queuedMs - 1);
    expect(call.sent()).toEqual([`media ${reply}`, "mark t1-s0-g2", `media ${goodbye}`, "mark t1-s1-g3"]);
    await call.advance(1);
    expect(call.sent()).toEqual([`hangUp ${CALL_SID}`, "closeStream"]);
  });

  it("still ends (and says why) when the REST hang-up fails", async () => {
    const call = await greetedCall();
    call.telephony.hangUpError = new Error("Twilio API 500");
    await call.says("Bye.");
    call.llm.current.toolCall("end_call").end();
    await call.playMarks(0);
    await call.playMarks();
    expect(call.sent()).toEqual([`media ${goodbye}`, "mark t1-s0-g3", `hangUp ${CALL_SID}`, "closeStream"]);
    expect(call.logs.at(-1)).toMatchObject({
      level: "error",
      message: "telephony failed while hanging up: Twilio API 500",
      details: { callId: "call-1", engine: "telephony" },
    });
    expectNothingLeftRunning(call);
  });

  it("transfers with transfer_call when a number is configured", async () => {
    const call = await greetedCall({ config: { transferNumber: TRANSFER_NUMBER } });
    await call.says("Can I talk to a person?");
    expect(call.llm.current.tools).toEqual(["end_call", "transfer_call"]);
    call.llm.current.toolCall("transfer_call").end();
    await call.playMarks(0);
    expect(call.state()).toBe("active.transferring.announcing");
    expect(call.sent()).toEqual([`media ${transfer}`, "mark t1-s0-g3"]);
    await call.playMarks();
    expect(call.sent()).toEqual([`transfer ${CALL_SID} ${TRANSFER_NUMBER}`, "closeStream"]);
    expect(call.actor.getSnapshot().output?.reason).toBe("transferred");
    expectNothingLeftRunning(call);
  });

  it("ignores transfer_call when no number is configured: an answer with nothing to say gets the apology", async () => {
    const call = await greetedCall();
    await call.says("Can I talk to a person?");
    expect(call.llm.current.tools).toEqual(["end_call"]);
    call.llm.current.toolCall("transfer_call").end();
    await call.playMarks(0);
    expect(call.sent()).toEqual([`media ${apology}`, "mark t1-s0-g3"]);
    expect(call.logs.map((entry) => entry.message)).toContain(
      "ignored a call to a tool we did not offer: transfer_call",
    );
  });

  it("reprompts a silent caller twice, then says goodbye and hangs up", async () => {
    const call = await greetedCall();
    const idle = call.config.idleRepromptMs;
    await call.advance(idle - 1);
    expect(call.sent()).toEqual([]);
    await call.advance(1);
    expect(call.sent()).toEqual([`media ${reprompt}`, "mark t0-s0-g2"]);
    expect(call.state()).toBe("active.reprompting");
    await call.playMarks();
    await call.advance(idle);
    expect(call.sent()).toEqual([`media ${reprompt}`, "mark t0-s0-g3"]);
    await call.playMarks();
    await call.advance(idle);
    expect(call.sent()).toEqual([`media ${goodbye}`, "mark t0-s0-g4"]);
    await call.playMarks();
    expect(call.sent()).toEqual([`hangUp ${CALL_SID}`, "closeStream"]);
    expect(call.llm.requests).toHaveLength(0);
    expect(call.actor.getSnapshot().output?.reason).toBe("idle");
    expectNothingLeftRunning(call);
  });

  it("starts counting reprompts afresh once the caller answers", async () => {
    const call = await greetedCall();
    await call.advance(call.config.idleRepromptMs);
    await call.playMarks();
    await call.says("Sorry, I'm here.");
    await call.replies("No problem. How can I help?");
    await call.playMarks();
    expect(call.llm.current.messages.slice(1)).toEqual([
      { role: "assistant", content: greeting },
      { role: "assistant", content: reprompt },
      { role: "user", content: "Sorry, I'm here." },
    ]);
    call.sent();
    await call.advance(call.config.idleRepromptMs);
    await call.playMarks();
    await call.advance(call.config.idleRepromptMs);
    expect(call.sent()).toEqual([`media ${reprompt}`, "mark t1-s0-g4", `media ${reprompt}`, "mark t1-s0-g5"]);
  });

  it("says goodbye at maxCallDurationMs, after the segment already playing", async () => {
    const call = await greetedCall({ config: { maxCallDurationMs: 60_000, idleRepromptMs: 120_000 } });
    await call.advance(50_000);
    await call.says("Tell me everything about breakers.");
    call.llm.current.text("Breakers protect circuits. They trip on");
    await call.playMarks(0);
    expect(call.sent()).toEqual(["media Breakers protect circuits. ", "mark t1-s0-g2"]);
    await call.advance(10_000);
    expect(call.llm.current.aborted).toBe(true);
    expect(call.sent()).toEqual([`media ${goodbye}`, "mark t1-s1-g3"]);
    await call.playMarks();
    expect(call.sent()).toEqual([`hangUp ${CALL_SID}`, "closeStream"]);
    expect(call.actor.getSnapshot().output?.reason).toBe("maxDuration");
  });

  it("says goodbye when speech recognition is lost for good", async () => {
    const call = await greetedCall();
    call.stt.emit({ type: "failed", error: new EngineError("stt", "connect", "reconnects exhausted") });
    await call.playMarks(0);
    expect(call.sent()).toEqual([`media ${goodbye}`, "mark t0-s0-g2"]);
    await call.playMarks();
    expect(call.sent()).toEqual([`hangUp ${CALL_SID}`, "closeStream"]);
    // The one line for the failure: the STT adapters log none of their own.
    expect(call.logs.filter((line) => line.level === "error")).toEqual([
      {
        level: "error",
        message: "stt failed while listening: reconnects exhausted",
        details: expect.objectContaining({ callId: "call-1", engine: "stt", kind: "connect" }),
      },
    ]);
    expect(call.emitted).toContainEqual({
      type: "engineFailed",
      engine: "stt",
      kind: "connect",
      message: "reconnects exhausted",
    });
  });
});

/** Drives a fresh call into one state; returns it with nothing sent pending in `sent()`. */
const reachState: Record<string, () => Promise<TestCall>> = {
  connecting: async () => startTestCall(),
  "active.greeting": async () => {
    const call = startTestCall();
    await call.start();
    return call;
  },
  "active.greeting (live TTS)": async () => {
    const call = startTestCall({ cachePhrases: false });
    call.tts.stall(greeting);
    await call.start();
    return call;
  },
  "active.listening.waiting": () => greetedCall(),
  "active.listening.hearing": async () => {
    const call = await greetedCall();
    await call.interim("I have a");
    return call;
  },
  "active.listening.collectingDigits": async () => {
    const call = await greetedCall();
    await call.dtmf("1");
    return call;
  },
  "active.replying.thinking.waitingForLlm": async () => {
    const call = await greetedCall();
    await call.says("My power is out.");
    return call;
  },
  "active.replying.thinking.waitingForSpeech": async () => {
    const call = await greetedCall();
    await call.says("My power is out.");
    call.tts.stall("Oh no, is it the whole house? ");
    call.llm.current.text("Oh no, is it the whole house? Or");
    await call.playMarks(0);
    return call;
  },
  "active.replying.speaking.playing": async () => {
    const call = await greetedCall();
    await call.says("My power is out.");
    call.tts.stall("Or just one room? ");
    call.llm.current.text("Oh no, is it the whole house? Or just one room? Let");
    await call.playMarks(0);
    return call;
  },
  "active.reprompting": async () => {
    const call = await greetedCall();
    await call.advance(call.config.idleRepromptMs);
    return call;
  },
  "active.apologizing": async () => {
    const call = await greetedCall();
    await call.says("My power is out.");
    call.llm.current.fail(new EngineError("llm", "http", "500"));
    await call.playMarks(0);
    return call;
  },
  "active.transferring.announcing": async () => {
    const call = await greetedCall({ config: { transferNumber: TRANSFER_NUMBER } });
    await call.says("A person please.");
    call.llm.current.toolCall("transfer_call").end();
    await call.playMarks(0);
    return call;
  },
  "active.transferring.dialing": async () => {
    const call = await greetedCall({ config: { transferNumber: TRANSFER_NUMBER } });
    call.telephony.restDelay = new Promise(() => undefined);
    await call.says("A person please.");
    call.llm.current.toolCall("transfer_call").end();
    await call.playMarks(0);
    await call.playMarks();
    return call;
  },
  "hangingUp.sayingGoodbye": async () => {
    const call = await greetedCall();
    await call.says("Bye.");
    call.llm.current.toolCall("end_call").end();
    await call.playMarks(0);
    return call;
  },
  "hangingUp.endingCall": async () => {
    const call = await greetedCall();
    call.telephony.restDelay = new Promise(() => undefined);
    await call.says("Bye.");
    call.llm.current.toolCall("end_call").end();
    await call.playMarks(0);
    await call.playMarks();
    return call;
  },
};

describe("the caller hangs up", () => {
  for (const [state, reach] of Object.entries(reachState)) {
    for (const hangUp of ["twilio.stop", "socket.closed"] as const) {
      it(`in ${state} (${hangUp}): one event ends everything`, async () => {
        const call = await reach();
        expect(call.state()).toBe(state.replace(/ \(.*\)$/, ""));
        call.sent();
        call.actor.send({ type: hangUp });
        // Synchronously: the stream is closed and every timer is cancelled within the same event.
        expect(call.sent()).toEqual(["closeStream"]);
        expect(call.clock.pendingTimers).toBe(0);
        await call.advance(0);
        expectNothingLeftRunning(call);
        // A call already being ended or handed over keeps that reason; otherwise the caller hung up.
        const reason = state.startsWith("hangingUp")
          ? "agentHungUp"
          : state.endsWith("dialing")
            ? "transferred"
            : "callerHungUp";
        expect(call.actor.getSnapshot().output?.reason).toBe(reason);
        // A late STT result, late engine answers or time passing change nothing after the end.
        await call.says("Hello?");
        call.llm.requests.at(-1)?.text("Late words. ").end();
        await call.advance(call.config.maxCallDurationMs);
        expect(call.sent()).toEqual([]);
      });
    }
  }

  it("aborts the LLM request and the synthesis in flight", async () => {
    const call = await reachState["active.replying.speaking.playing"]?.();
    if (!call) throw new Error("unreachable");
    await call.stop();
    expect(call.llm.current.aborted).toBe(true);
    expect(call.tts.requests.map((request) => [request.text, request.aborted])).toEqual([
      ["Oh no, is it the whole house? ", false],
      ["Or just one room? ", true],
    ]);
  });
});
