/**
 * Failures never mean dead air: an LLM or TTS error or timeout gets the cached apology, the error is logged
 * with the call id, and the call listens again with a history that says what really happened.
 */
import { describe, expect, it } from "vitest";
import { defaultCallConfig } from "../../machines/call-config.js";
import { EngineError } from "../../machines/engines.js";
import { greetedCall } from "./call-harness.js";

const { greeting, apology } = defaultCallConfig.phrases;
const SYSTEM = { role: "system", content: defaultCallConfig.systemPrompt } as const;
const GREETED = { role: "assistant", content: greeting } as const;
const QUESTION = "I have a breaker that keeps tripping.";

describe("failures", () => {
  it("recovers from an LLM error: apology, logged with the call id, and the next request knows what was said", async () => {
    const call = await greetedCall();
    await call.says(QUESTION);
    call.llm.current.fail(new EngineError("llm", "http", "HTTP 500 from the model server"));
    await call.playMarks(0);
    expect(call.sent()).toEqual([`media ${apology}`, "mark t1-s0-g3"]);
    expect(call.state()).toBe("active.apologizing");
    expect(call.logs).toContainEqual({
      level: "error",
      message: "llm failed while replying: HTTP 500 from the model server",
      details: expect.objectContaining({ callId: "call-1", engine: "llm", kind: "http" }),
    });
    expect(call.emitted).toContainEqual({
      type: "engineFailed",
      engine: "llm",
      kind: "http",
      message: "HTTP 500 from the model server",
    });

    await call.playMarks();
    expect(call.state()).toBe("active.listening.waiting");
    await call.says("The one in the kitchen.");
    expect(call.llm.current.messages).toEqual([
      SYSTEM,
      GREETED,
      { role: "user", content: QUESTION },
      { role: "assistant", content: apology },
      { role: "user", content: "The one in the kitchen." },
    ]);
  });

  it("recovers from an LLM that sends nothing within llmFirstTokenTimeoutMs, and drops its late answer", async () => {
    const call = await greetedCall();
    await call.says(QUESTION);
    const slow = call.llm.current;
    await call.advance(call.config.llmFirstTokenTimeoutMs - 1);
    expect(call.sent()).toEqual([]);
    await call.advance(1);
    expect(slow.aborted).toBe(true);
    expect(call.sent()).toEqual([`media ${apology}`, "mark t1-s0-g3"]);
    expect(call.logs.at(-1)).toMatchObject({
      level: "error",
      message: `llm failed while thinking: no first token within ${call.config.llmFirstTokenTimeoutMs} ms`,
      details: { callId: "call-1", kind: "timeout" },
    });

    slow.text("Too late. ").text("Really.").end();
    await call.playMarks();
    expect(call.sent()).toEqual([]);
    expect(call.history()).toEqual([
      GREETED,
      { role: "user", content: QUESTION },
      { role: "assistant", content: apology },
    ]);
  });

  it("gives an LLM that started answering replySilenceTimeoutMs to produce its first words", async () => {
    const call = await greetedCall();
    await call.says(QUESTION);
    call.llm.current.text("Let me think");
    await call.advance(call.config.replySilenceTimeoutMs - 1);
    expect(call.state()).toBe("active.replying.thinking.waitingForSpeech");
    expect(call.sent()).toEqual([]);
    await call.advance(1);
    expect(call.sent()).toEqual([`media ${apology}`, "mark t1-s0-g3"]);
    expect(call.llm.current.aborted).toBe(true);
  });

  it("apologizes when the LLM stalls mid-reply and the caller has heard everything sent", async () => {
    const call = await greetedCall();
    await call.says(QUESTION);
    call.llm.current.text("Okay, let's check it. Is");
    await call.playMarks(0);
    expect(call.sent()).toEqual(["media Okay, let's check it. ", "mark t1-s0-g2"]);
    // Audio still playing is not silence: no timer runs until Twilio says it has all played.
    await call.advance(call.config.replySilenceTimeoutMs);
    expect(call.state()).toBe("active.replying.speaking.playing");
    await call.playMarks();
    expect(call.state()).toBe("active.replying.speaking.starved");
    await call.advance(call.config.replySilenceTimeoutMs - 1);
    call.llm.current.text(" it the main breaker? Or");
    await call.playMarks(0);
    expect(call.state()).toBe("active.replying.speaking.playing");
    expect(call.sent()).toEqual(["media Is it the main breaker? ", "mark t1-s1-g2"]);
    await call.playMarks();
    await call.advance(call.config.replySilenceTimeoutMs);
    expect(call.sent()).toEqual([`media ${apology}`, "mark t1-s2-g3"]);
    expect(call.llm.current.aborted).toBe(true);
    await call.playMarks();
    expect(call.history().at(-1)).toEqual({
      role: "assistant",
      content: `Okay, let's check it. Is it the main breaker? ${apology}`,
    });
  });

  it("apologizes after the segments already out when TTS fails mid-reply", async () => {
    const call = await greetedCall();
    await call.says(QUESTION);
    call.tts.failOn("Is it the main breaker?");
    await call.replies("Okay, let's check it. ", "Is it the main breaker?");
    expect(call.sent()).toEqual([
      "media Okay, let's check it. ",
      "mark t1-s0-g2",
      `media ${apology}`,
      "mark t1-s1-g3",
    ]);
    await call.playMarks();
    expect(call.history()).toEqual([
      GREETED,
      { role: "user", content: QUESTION },
      { role: "assistant", content: `Okay, let's check it. ${apology}` },
    ]);
    expect(call.logs.at(-1)?.message).toBe(
      'tts failed while replying: cannot speak "Is it the main breaker?"',
    );
  });

  it("apologizes when TTS yields no audio within ttsTimeoutMs, aborting the synthesis", async () => {
    const call = await greetedCall();
    await call.says(QUESTION);
    call.tts.stall("Okay, let's check it.");
    await call.replies("Okay, let's check it.");
    await call.advance(call.config.ttsTimeoutMs - 1);
    expect(call.sent()).toEqual([]);
    await call.advance(1);
    expect(call.sent()).toEqual([`media ${apology}`, "mark t1-s0-g3"]);
    expect(call.tts.requests.map((request) => [request.text, request.aborted])).toEqual([
      ["Okay, let's check it.", true],
    ]);
    expect(call.logs.at(-1)?.details).toMatchObject({ engine: "tts", kind: "timeout" });
  });

  it("apologizes for an empty answer", async () => {
    const call = await greetedCall();
    await call.says(QUESTION);
    await call.replies();
    expect(call.sent()).toEqual([`media ${apology}`, "mark t1-s0-g3"]);
    expect(call.logs.at(-1)?.message).toBe("the LLM replied with nothing to say");
  });

  it("goes back to listening when even the apology cannot be spoken", async () => {
    const call = await greetedCall({ cachePhrases: false });
    call.tts.failOn(apology);
    await call.says(QUESTION);
    call.llm.current.fail(new EngineError("llm", "connect", "connection refused"));
    await call.playMarks(0);
    expect(call.sent()).toEqual([]);
    expect(call.state()).toBe("active.listening.waiting");
    expect(call.logs.map((entry) => entry.message)).toEqual([
      "llm failed while replying: connection refused",
      `tts failed while speaking a phrase: cannot speak "${apology}"`,
    ]);
    // The caller's words were not answered: they join the next turn.
    await call.says("Hello?");
    expect(call.llm.current.messages.at(-1)).toEqual({ role: "user", content: `${QUESTION} Hello?` });
  });

  it("apologizes and carries on when the transfer's REST call fails", async () => {
    const call = await greetedCall({ config: { transferNumber: "+15550100" } });
    call.telephony.restDelay = Promise.reject(new Error("Twilio API 404"));
    call.telephony.restDelay.catch(() => undefined);
    await call.says("A person please.");
    call.llm.current.toolCall("transfer_call").end();
    await call.playMarks(0);
    await call.playMarks();
    expect(call.sent()).toEqual([
      `media ${defaultCallConfig.phrases.transfer}`,
      "mark t1-s0-g3",
      "transfer CA0123456789abcdef0123456789abcdef +15550100",
      `media ${apology}`,
      "mark t1-s0-g4",
    ]);
    expect(call.logs.at(-1)?.message).toBe("telephony failed while transferring: Twilio API 404");
    // The call goes on; if the caller now hangs up, that is why it ended.
    await call.stop();
    expect(call.actor.getSnapshot().output?.reason).toBe("callerHungUp");
  });
});
