/**
 * The caller talks while the agent speaks: what interrupts, what Twilio is told, and what the history keeps.
 */
import { describe, expect, it } from "vitest";
import { defaultCallConfig } from "../../machines/call-config.js";
import { greetedCall, startTestCall, type TestCall } from "./call-harness.js";

const { greeting } = defaultCallConfig.phrases;
const SYSTEM = { role: "system", content: defaultCallConfig.systemPrompt } as const;
const GREETED = { role: "assistant", content: greeting } as const;
const QUESTION = "I have a breaker that keeps tripping.";

/** A call whose agent is in the middle of answering QUESTION with these segments, none played yet. */
async function callMidReply(
  segments: string[],
  options: { llmStillStreaming?: boolean } = {},
): Promise<TestCall> {
  const call = await greetedCall();
  await call.says(QUESTION);
  const reply = call.llm.current;
  for (const segment of segments) reply.text(segment);
  if (!options.llmStillStreaming) reply.end();
  await call.playMarks(0);
  call.sent();
  return call;
}

describe("barge-in", () => {
  it("during the first segment, before any mark came back: clears, and nothing of the reply counts as heard", async () => {
    // The chunker closes a sentence once the next one starts, so the LLM is still streaming "What...".
    const call = await callMidReply(["Sure, I can help with that. ", "What"], { llmStillStreaming: true });
    const reply = call.llm.current;
    expect(call.state()).toBe("active.replying.speaking.playing");

    await call.interim("wait actually");
    expect(call.sent()).toEqual(["clear"]);
    expect(call.state()).toBe("active.listening.hearing");
    expect(reply.aborted).toBe(true);
    expect(call.history()).toEqual([GREETED]);
    expect(call.emitted).toContainEqual({ type: "bargeIn", turn: 1, heard: 0, sent: 1, estimatedWords: 0 });

    // Twilio echoes the cleared mark: it proves nothing.
    await call.playMarks();
    expect(call.history()).toEqual([GREETED]);

    await call.speechFinal("Wait, actually it's the kitchen one.");
    expect(call.llm.current.messages).toEqual([
      SYSTEM,
      GREETED,
      { role: "user", content: `${QUESTION} Wait, actually it's the kitchen one.` },
    ]);
    expect(call.sent()).toEqual([]);
  });

  it("mid-reply: the history keeps the segments acknowledged before the clear, flagged as interrupted", async () => {
    const call = await callMidReply([
      "Okay, let's check it. ",
      "Is it the main breaker? ",
      "Or a small one?",
    ]);
    expect(call.telephony.pendingMarks).toEqual(["t1-s0-g2", "t1-s1-g2", "t1-s2-g2"]);
    await call.playMarks(1);
    expect(call.state()).toBe("active.replying.speaking.playing");

    await call.final("No wait,");
    expect(call.sent()).toEqual(["clear"]);
    expect(call.history()).toEqual([
      GREETED,
      { role: "user", content: QUESTION },
      { role: "assistant", content: "Okay, let's check it.", interrupted: true },
    ]);
    await call.speechFinal("it's the one for the kitchen.");
    expect(call.llm.current.messages).toEqual([
      SYSTEM,
      GREETED,
      { role: "user", content: QUESTION },
      { role: "assistant", content: "Okay, let's check it.", interrupted: true },
      { role: "user", content: "No wait, it's the one for the kitchen." },
    ]);
  });

  it("ignores mark echoes after the clear, even when they arrive during the next reply", async () => {
    const call = await callMidReply(["Okay, let's check it. ", "Is it the main breaker?"]);
    await call.speechFinal("Sorry, the kitchen one.");
    expect(call.sent()).toEqual(["clear"]);
    const staleMarks = call.telephony.pendingMarks.splice(0);
    expect(staleMarks).toEqual(["t1-s0-g2", "t1-s1-g2"]);

    // The next reply starts; only then do Twilio's echoes of the cleared marks arrive.
    call.llm.current.text("Got it, the kitchen. ").text("Is");
    await call.playMarks(0);
    expect(call.sent()).toEqual(["media Got it, the kitchen. ", "mark t2-s0-g3"]);
    for (const name of staleMarks) call.actor.send({ type: "twilio.mark", name });
    call.llm.current.text(" that right?").end();
    await call.playMarks(0);
    expect(call.sent()).toEqual(["media Is that right?", "mark t2-s1-g3"]);
    expect(call.state()).toBe("active.replying.speaking.playing");
    expect(call.history()).toEqual([GREETED]);

    await call.playMarks();
    expect(call.state()).toBe("active.listening.waiting");
    expect(call.history()).toEqual([
      GREETED,
      { role: "user", content: `${QUESTION} Sorry, the kitchen one.` },
      { role: "assistant", content: "Got it, the kitchen. Is that right?" },
    ]);
  });

  it("lets backchannels and a single word pass under the agent's voice without interrupting", async () => {
    const call = await callMidReply(["Okay, let's check it. ", "Is it the main breaker?"]);
    await call.interim("mm-hmm");
    await call.speechFinal("Mm-hmm.");
    await call.interim("yeah okay");
    await call.speechFinal("Yeah, okay.");
    await call.speechFinal("Right.");
    await call.interim("kitchen"); // one word: below bargeInMinWords
    await call.speechFinal("Kitchen.");
    expect(call.sent()).toEqual([]);
    expect(call.state()).toBe("active.replying.speaking.playing");

    await call.playMarks();
    expect(call.state()).toBe("active.listening.waiting");
    expect(call.history().at(-1)).toEqual({
      role: "assistant",
      content: "Okay, let's check it. Is it the main breaker?",
    });
    // What the caller said under the agent's voice is not a turn of its own.
    await call.says("Yes, the main one.");
    expect(call.llm.current.messages.at(-1)).toEqual({ role: "user", content: "Yes, the main one." });
  });

  it("counts a backchannel followed by real words as a barge-in", async () => {
    const call = await callMidReply(["Okay, let's check it. ", "Is it the main breaker?"]);
    await call.interim("yeah but");
    expect(call.sent()).toEqual(["clear"]);
  });

  it("honours bargeInMinWords", async () => {
    const call = startTestCall({ config: { bargeInMinWords: 3 } });
    await call.start();
    await call.interim("hold on");
    expect(call.state()).toBe("active.greeting");
    await call.interim("hold on please");
    expect(call.state()).toBe("active.listening.hearing");
    expect(call.sent()).toEqual([`media ${greeting}`, "mark t0-s0-g1", "clear"]);
  });

  it("interrupts the greeting too, and then answers at once when the interruption was a whole utterance", async () => {
    const call = startTestCall();
    await call.start();
    await call.speechFinal("Hi, my power is out.");
    expect(call.sent()).toEqual([`media ${greeting}`, "mark t0-s0-g1", "clear"]);
    expect(call.state()).toBe("active.replying.thinking.waitingForLlm");
    expect(call.llm.current.messages).toEqual([SYSTEM, { role: "user", content: "Hi, my power is out." }]);
  });

  it("treats a key press while the agent speaks as a barge-in", async () => {
    const call = await callMidReply(["Press 1 for billing, ", "or 2 for repairs."]);
    await call.playMarks(1);
    await call.dtmf("2");
    expect(call.sent()).toEqual(["clear"]);
    expect(call.state()).toBe("active.listening.collectingDigits");
    await call.advance(call.config.dtmfEndOfTurnMs);
    expect(call.llm.current.messages.slice(-2)).toEqual([
      { role: "assistant", content: "Press 1 for billing,", interrupted: true },
      { role: "user", content: "[caller pressed 2]" },
    ]);
  });

  it("drops late audio of an interrupted reply", async () => {
    const call = await greetedCall();
    await call.says(QUESTION);
    call.tts.stall("Is it the main breaker? ");
    call.llm.current.text("Okay, let's check it. Is it the main breaker? And");
    await call.playMarks(0);
    expect(call.sent()).toEqual(["media Okay, let's check it. ", "mark t1-s0-g2"]);
    await call.interim("stop please");
    expect(call.sent()).toEqual(["clear"]);
    expect(call.tts.requests.map((request) => [request.text, request.aborted])).toEqual([
      ["Okay, let's check it. ", false],
      ["Is it the main breaker? ", true],
    ]);
    await call.advance(call.config.ttsTimeoutMs);
    expect(call.sent()).toEqual([]);
  });
});
