/**
 * Where a barge-in cuts the agent's words in the history, and what happens when the interruption turns out
 * to hold no words: the agent resumes. On the simulated clock, with a fake voice that speaks at 70 ms a
 * character, so the audio's timeline is that of a real call.
 */
import { describe, expect, it } from "vitest";
import { defaultCallConfig } from "../../machines/call-config.js";
import { greetedCall, type TestCall, type TestCallOptions } from "./call-harness.js";

const { greeting } = defaultCallConfig.phrases;
const SYSTEM = { role: "system", content: defaultCallConfig.systemPrompt } as const;
const GREETED = { role: "assistant", content: greeting } as const;
const MS_PER_CHAR = 70;

const EVERYTHING = "Tell me everything about your services please.";
/** The chunker cuts it at its first clause, then at the long clause's comma, then at the sentence end. */
const LONG_ANSWER = [
  "We do all kinds of electrical work, ",
  "from rewiring whole houses and fitting new consumer units to installing EV chargers, ",
  "outdoor lighting and smoke alarms. ",
  "What do you need?",
] as const;
const FIRST_SEGMENT_MS = LONG_ANSWER[0].length * MS_PER_CHAR; // 2.52 s

/** A call whose agent has sent the whole of `answer` in reply to `question`, none of it played yet. */
async function agentAnswering(
  question: string,
  answer: readonly string[],
  options: TestCallOptions = {},
): Promise<TestCall> {
  const call = await greetedCall({ speechMsPerChar: MS_PER_CHAR, ...options });
  if (options.vadRecogniser) {
    await call.vad("speechStarted");
    await call.vadWords("final", question);
    await call.vad("speechEnded");
  } else await call.says(question);
  await call.replies(...answer);
  call.sent();
  expect(call.state()).toBe("active.replying.speaking.playing");
  return call;
}

describe("the history of an interrupted reply", () => {
  it("keeps both caller turns, and the reply cut at the last word played when the caller started talking", async () => {
    const call = await agentAnswering(EVERYTHING, LONG_ANSWER);
    expect(call.telephony.pendingMarks).toEqual(["t1-s0-g2", "t1-s1-g2", "t1-s2-g2", "t1-s3-g2"]);

    await call.advance(1800); // 1.8 s into the first sentence, no mark echoed yet
    await call.speechStarted();
    await call.interim("Wait, stop");
    expect(call.sent()).toEqual(["clear"]);
    expect(call.emitted).toContainEqual({ type: "bargeIn", turn: 1, heard: 0, sent: 4, estimatedWords: 5 });

    await call.speechFinal("Wait, stop, I only need a quote for one socket.");
    expect(call.llm.current.messages).toEqual([
      SYSTEM,
      GREETED,
      { role: "user", content: EVERYTHING },
      { role: "assistant", content: "We do all kinds of", interrupted: true },
      { role: "user", content: "Wait, stop, I only need a quote for one socket." },
    ]);
  });

  it("cuts where the caller's speech started, not where the barge-in gate opened", async () => {
    const call = await agentAnswering(EVERYTHING, LONG_ANSWER);
    await call.advance(700);
    await call.speechStarted(); // "We do all kinds of" is still playing: 10 characters, "We do all"
    await call.advance(1500);
    await call.interim("Hang on a second");
    expect(call.sent()).toEqual(["clear"]);
    expect(call.history().at(-1)).toEqual({ role: "assistant", content: "We do all", interrupted: true });
  });

  it("counts a segment whose mark echoes at the very moment the caller speaks as heard, and nothing after it", async () => {
    const call = await agentAnswering(EVERYTHING, LONG_ANSWER);
    await call.advance(FIRST_SEGMENT_MS);
    await call.playMarks(1);
    await call.speechStarted();
    await call.interim("Wait, stop");
    expect(call.history().at(-1)).toEqual({
      role: "assistant",
      content: "We do all kinds of electrical work,",
      interrupted: true,
    });
  });

  it("leaves out the last word of a segment whose echo came just after the caller started speaking", async () => {
    const call = await agentAnswering(EVERYTHING, LONG_ANSWER);
    await call.advance(FIRST_SEGMENT_MS - 150);
    await call.speechStarted();
    await call.advance(150);
    await call.playMarks(1); // the echo dates the segment: it ended 150 ms after the caller started
    await call.interim("Wait, stop");
    expect(call.history().at(-1)).toEqual({
      role: "assistant",
      content: "We do all kinds of electrical",
      interrupted: true,
    });
  });

  it("merges the caller's words into one turn when they spoke before any of the reply could play", async () => {
    const call = await agentAnswering(EVERYTHING, LONG_ANSWER);
    await call.speechStarted();
    await call.interim("Wait, stop");
    await call.speechFinal("Wait, stop, I only need a quote.");
    expect(call.llm.current.messages.slice(1)).toEqual([
      GREETED,
      { role: "user", content: `${EVERYTHING} Wait, stop, I only need a quote.` },
    ]);
  });
});

const QUESTION = "I have a breaker that keeps tripping.";
const ANSWER = ["Okay, let's check that for you. ", "Is it the main breaker, or a small one?"] as const;
/** How the resume cuts ANSWER[1]: its first clause first, as every utterance's first segment is. */
const RESUMED = ["Is it the main breaker, ", "or a small one?"];
const { bargeInSpeechMs } = defaultCallConfig;

/** VAD speech starts under the agent's voice `intoReplyMs` in and lasts long enough to cut it. */
async function coughedOver(intoReplyMs: number, options: TestCallOptions = {}): Promise<TestCall> {
  const call = await agentAnswering(QUESTION, ANSWER, { vadRecogniser: true, ...options });
  await call.advance(intoReplyMs);
  await call.vad("speechStarted");
  await call.advance(bargeInSpeechMs as number);
  expect(call.sent()).toEqual(["clear"]);
  return call;
}

describe("a false interruption", () => {
  it("resumes from the start of the cut segment once the speech ends without a word, and keeps one whole reply", async () => {
    // 2.5 s in: the first segment (2.24 s) had played, the second had just begun.
    const call = await coughedOver(2500);
    expect(call.state()).toBe("active.interrupted.awaitingWords");
    await call.vadWords("final", "");
    await call.vad("speechEnded");
    expect(call.state()).toBe("active.resuming");
    expect(call.emitted).toContainEqual({ type: "resumed", turn: 1 });
    expect(call.tts.texts.slice(-2)).toEqual(RESUMED);
    await call.playMarks();
    expect(call.history().at(-1)).toEqual({ role: "assistant", content: `${ANSWER[0].trim()} ${ANSWER[1]}` });
  });

  it("says again only what was not proven heard, and commits the reply as heard in full", async () => {
    const call = await agentAnswering(QUESTION, ANSWER, { vadRecogniser: true });
    await call.advance(ANSWER[0].length * MS_PER_CHAR);
    await call.playMarks(1);
    await call.advance(500);
    await call.vad("speechStarted");
    await call.advance(bargeInSpeechMs as number);
    await call.vadWords("final", "");
    await call.vad("speechEnded");
    expect(call.state()).toBe("active.resuming");
    expect(call.tts.texts.slice(-2)).toEqual(RESUMED);
    await call.playMarks();
    expect(call.state()).toBe("active.listening.waiting");
    expect(call.history()).toEqual([
      GREETED,
      { role: "user", content: QUESTION },
      { role: "assistant", content: `${ANSWER[0].trim()} ${ANSWER[1]}` },
    ]);
  });

  it("resumes after falseInterruptionTimeoutMs of speech that still has no word (someone talking in the room)", async () => {
    const call = await coughedOver(500);
    await call.advance((defaultCallConfig.falseInterruptionTimeoutMs as number) - 1);
    expect(call.state()).toBe("active.interrupted.awaitingWords");
    await call.advance(1);
    expect(call.state()).toBe("active.resuming");
    // Only words cut a resume short: that same speech ending changes nothing.
    await call.vad("speechEnded");
    expect(call.state()).toBe("active.resuming");
  });

  it("is a real interruption when words that pass the gate come: the caller's turn, and the cut in the history", async () => {
    const call = await coughedOver(500);
    await call.vadWords("interim", "Hold on");
    expect(call.state()).toBe("active.listening.hearing");
    await call.vadWords("final", "Hold on, it's the kitchen one.");
    await call.vad("speechEnded");
    expect(call.llm.current.messages.slice(1)).toEqual([
      GREETED,
      { role: "user", content: QUESTION },
      { role: "assistant", content: "Okay,", interrupted: true },
      { role: "user", content: "Hold on, it's the kitchen one." },
    ]);
  });

  it("takes a lone word that is not a backchannel as the caller's turn when their speech ends", async () => {
    const call = await coughedOver(500);
    await call.vadWords("final", "Stop.");
    await call.vad("speechEnded");
    expect(call.llm.current.messages.at(-1)).toEqual({ role: "user", content: "Stop." });
  });

  it("resumes after speech of backchannels only", async () => {
    const call = await coughedOver(500);
    await call.vadWords("final", "Mm-hmm.");
    await call.vad("speechEnded");
    expect(call.state()).toBe("active.resuming");
  });

  it("when cut again during the resume by words, keeps what was heard before and during it as one reply", async () => {
    const call = await coughedOver(2500);
    await call.vadWords("final", "");
    await call.vad("speechEnded");
    expect(call.state()).toBe("active.resuming");
    call.sent();
    await call.advance(1000); // "Is it the main" of the resumed segment
    await call.vad("speechStarted");
    await call.vadWords("interim", "No wait");
    expect(call.sent()).toEqual(["clear"]);
    expect(call.state()).toBe("active.listening.hearing");
    expect(call.history().at(-1)).toEqual({
      role: "assistant",
      content: `${ANSWER[0].trim()} Is it the main`,
      interrupted: true,
    });
    await call.vadWords("final", "No wait, it's the kitchen one.");
    await call.vad("speechEnded");
    expect(call.llm.current.messages.at(-1)).toEqual({
      role: "user",
      content: "No wait, it's the kitchen one.",
    });
  });

  it("is off with falseInterruptionTimeoutMs null: the call listens to the caller as before", async () => {
    const call = await coughedOver(500, { config: { falseInterruptionTimeoutMs: null } });
    expect(call.state()).toBe("active.listening.hearing");
    await call.vadWords("final", "");
    await call.vad("speechEnded");
    expect(call.state()).toBe("active.listening.waiting");
    expect(call.tts.texts.filter((text) => text === ANSWER[0])).toHaveLength(1);
  });

  it("writes the cut into the history when the caller hangs up while the call waits for words", async () => {
    const call = await coughedOver(2500);
    await call.stop();
    expect(call.actor.getSnapshot().output?.history.at(-1)).toEqual({
      role: "assistant",
      content: expect.stringMatching(/^Okay, let's check that for you\./),
      interrupted: true,
    });
  });
});
