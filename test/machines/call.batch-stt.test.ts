/**
 * A recogniser that is not a streaming service: Whisper behind Silero VAD. Its speech start comes early
 * (and rejects noise), its words late: an interim about every second at best, the final only once the VAD
 * heard the caller stop. The same statechart must keep the caller's turn, and barge-in, right.
 */
import { describe, expect, it } from "vitest";
import { defaultCallConfig } from "../../machines/call-config.js";
import { greetedCall, type TestCall } from "./call-harness.js";

const { greeting, reprompt } = defaultCallConfig.phrases;
const GREETED = { role: "assistant", content: greeting } as const;
const QUESTION = "I have a breaker that keeps tripping.";
const ANSWER = "Okay, let's check it. Is it the main breaker?";

/** A VAD-recognised call whose agent is mid-way through ANSWER, none of it played yet. */
async function agentSpeaking(): Promise<TestCall> {
  const call = await greetedCall({ vadRecogniser: true });
  await call.vad("speechStarted");
  await call.vadWords("final", QUESTION);
  await call.vad("speechEnded");
  await call.replies(ANSWER);
  call.sent();
  expect(call.state()).toBe("active.replying.speaking.playing");
  return call;
}

describe("a batch recogniser behind a VAD", () => {
  it("lets a caller talk for 12 s with no word yet: no reprompt, no early end; the turn is the words once speech ended", async () => {
    const call = await greetedCall({ vadRecogniser: true });
    await call.vad("speechStarted");
    await call.advance(12_000); // past the 8 s idle reprompt
    expect(call.state()).toBe("active.listening.hearing");
    expect(call.sent()).toEqual([]);
    expect(call.llm.requests).toHaveLength(0);

    await call.vadWords("final", QUESTION);
    expect(call.llm.requests).toHaveLength(0); // the words are in, but the caller has not stopped
    await call.vad("speechEnded");
    expect(call.llm.current.messages.at(-1)).toEqual({ role: "user", content: QUESTION });
    expect(call.stt.session.finalizeRequests).toBe(0);
  });

  it("goes back to waiting after speech with no words (a cough), and reprompts a silence after it", async () => {
    const call = await greetedCall({ vadRecogniser: true });
    await call.vad("speechStarted");
    await call.vadWords("final", "");
    await call.vad("speechEnded");
    expect(call.state()).toBe("active.listening.waiting");
    expect(call.llm.requests).toHaveLength(0);
    await call.advance(defaultCallConfig.idleRepromptMs);
    expect(call.sent()).toEqual([`media ${reprompt}`, "mark t0-s0-g2"]);
  });

  it("interrupts the agent on VAD speech plus interim words that pass the gate", async () => {
    const call = await agentSpeaking();
    await call.vad("speechStarted");
    expect(call.sent()).toEqual([]); // speech alone decides nothing yet
    await call.vadWords("interim", "wait a second");
    expect(call.sent()).toEqual(["clear"]);
    expect(call.emitted).toContainEqual({ type: "bargeIn", turn: 1, heard: 0, sent: 2, estimatedWords: 0 });
    await call.vadWords("final", "Wait a second, it's the kitchen one.");
    await call.vad("speechEnded");
    expect(call.llm.current.messages.at(-1)).toEqual({
      role: "user",
      content: `${QUESTION} Wait a second, it's the kitchen one.`,
    });
  });

  it("interrupts the agent when the caller's speech lasts bargeInSpeechMs before Whisper has any word", async () => {
    const call = await agentSpeaking();
    const { bargeInSpeechMs } = call.config;
    expect(bargeInSpeechMs).toBe(defaultCallConfig.bargeInSpeechMs);
    await call.vad("speechStarted");
    await call.advance((bargeInSpeechMs as number) - 1);
    expect(call.sent()).toEqual([]);
    await call.advance(1);
    expect(call.sent()).toEqual(["clear"]);
    // No word yet: a cough would make the agent resume; these words make it the caller's turn.
    expect(call.state()).toBe("active.interrupted.awaitingWords");
    await call.vadWords("final", "Hold on, let me check.");
    expect(call.state()).toBe("active.listening.hearing");
    await call.vad("speechEnded");
    expect(call.llm.current.messages.at(-1)).toEqual({
      role: "user",
      content: `${QUESTION} Hold on, let me check.`,
    });
  });

  it("lets a backchannel run past bargeInSpeechMs without cutting the agent off, and forgets it", async () => {
    const call = await agentSpeaking();
    await call.vad("speechStarted");
    await call.vadWords("interim", "mm-hmm");
    await call.advance(2000);
    await call.vadWords("final", "Mm-hmm.");
    await call.vad("speechEnded");
    expect(call.sent()).toEqual([]);
    expect(call.state()).toBe("active.replying.speaking.playing");

    await call.playMarks();
    expect(call.state()).toBe("active.listening.waiting");
    expect(call.history()).toEqual([
      GREETED,
      { role: "user", content: QUESTION },
      { role: "assistant", content: ANSWER },
    ]);
    expect(call.llm.requests).toHaveLength(1); // "mm-hmm" was not taken as a turn
  });

  it("ignores a cough shorter than bargeInSpeechMs, and its timer does not fire later", async () => {
    const call = await agentSpeaking();
    await call.vad("speechStarted");
    await call.advance(300);
    await call.vadWords("final", "");
    await call.vad("speechEnded");
    await call.advance(5000);
    expect(call.sent()).toEqual([]);
    expect(call.emitted.some((event) => event.type === "bargeIn")).toBe(false);
    expect(call.state()).toBe("active.replying.speaking.playing");
  });

  it("counts speech that began while the agent was thinking from when its voice starts", async () => {
    const call = await greetedCall({ vadRecogniser: true });
    await call.vad("speechStarted");
    await call.vadWords("final", QUESTION);
    await call.vad("speechEnded");
    await call.vad("speechStarted"); // the caller goes on, no words yet
    await call.advance(1000);
    await call.replies(ANSWER);
    expect(call.sent().some((line) => line.startsWith("media Okay"))).toBe(true);
    const { bargeInSpeechMs } = call.config;
    await call.advance((bargeInSpeechMs as number) - 1);
    expect(call.sent()).not.toContain("clear");
    await call.advance(1);
    expect(call.sent()).toEqual(["clear"]);
  });

  it("does not interrupt on speech alone with a streaming recogniser, whose speech start noise also fires", async () => {
    const call = await greetedCall();
    expect(call.config.bargeInSpeechMs).toBeNull();
    await call.says(QUESTION);
    await call.replies(ANSWER);
    call.sent();
    await call.speechStarted();
    await call.advance(3000);
    expect(call.sent()).toEqual([]);
    expect(call.state()).toBe("active.replying.speaking.playing");
  });
});
