import { describe, expect, it } from "vitest";
import { defaultCallConfig } from "../../machines/call-config.js";
import {
  backchannelMatcher,
  bringsNewWords,
  type CallerSpeech,
  dropUtterance,
  endUtterance,
  hasFinishedTurn,
  hear,
  isMidUtterance,
  normalizeWords,
  passesBargeInGate,
  pressKey,
  silentCaller,
  startUtterance,
  type TranscriptResult,
  takeTurn,
  utteranceText,
} from "../../machines/caller-speech.js";

function result(text: string, start: number, kind: "interim" | "final" = "final"): TranscriptResult {
  return { text, isFinal: kind === "final", start, end: start + 1 };
}

function heard(...results: TranscriptResult[]): CallerSpeech {
  return results.reduce(hear, silentCaller);
}

describe("caller speech", () => {
  it("replaces interim guesses and appends finals", () => {
    const speech = heard(
      result("my", 0, "interim"),
      result("my lights", 0, "interim"),
      result("My lights", 0),
    );
    expect(utteranceText(speech)).toBe("My lights");
    const more = hear(speech, result("are off", 1, "interim"));
    expect(utteranceText(more)).toBe("My lights are off");
    expect(isMidUtterance(more)).toBe(true);
    expect(hasFinishedTurn(more)).toBe(false);
  });

  it("finishes the turn once an utterance with words ended and nothing new is in progress", () => {
    const speech = endUtterance(heard(result("My lights are off.", 0)));
    expect(hasFinishedTurn(speech)).toBe(true);
    expect(hasFinishedTurn(endUtterance(silentCaller))).toBe(false);
    expect(hasFinishedTurn(hear(speech, result("and", 1, "interim")))).toBe(false);
  });

  it("uses the interim guess when an utterance must end without its final, and drops the late final", () => {
    const ended = endUtterance(heard(result("hello is anyone", 4, "interim")));
    expect(ended.completed).toBe("hello is anyone");
    const late = hear(ended, result("Hello, is anyone there?", 4));
    expect(late).toBe(ended);
    expect(bringsNewWords(ended, result("Hello, is anyone there?", 4))).toBe(false);
    expect(utteranceText(hear(ended, result("Yes.", 6)))).toBe("Yes.");
  });

  it("keeps the caller mid-utterance from the start of their speech to its end, words or not", () => {
    const speaking = startUtterance(silentCaller, 0);
    expect(isMidUtterance(speaking)).toBe(true);
    expect(startUtterance(speaking, 0)).toBe(speaking);
    const withWords = endUtterance(hear(speaking, result("Hello.", 0)));
    expect(withWords.speaking).toBe(false);
    expect(hasFinishedTurn(withWords)).toBe(true);
    // Speech with words but not yet ended is not a finished turn, nor is a noise that ended.
    expect(hasFinishedTurn(startUtterance(withWords, 0))).toBe(false);
    expect(hasFinishedTurn(endUtterance(speaking))).toBe(false);
    expect(dropUtterance(speaking).speaking).toBe(false);
  });

  it("forgets a dropped utterance entirely", () => {
    const speech = dropUtterance(heard(result("Mm-hmm.", 0), result("yeah", 1, "interim")));
    expect(speech).toMatchObject({ completed: "", finals: "", interim: "" });
    expect(hear(speech, result("yeah", 1))).toBe(speech);
  });

  it("counts only new words as new: repeated interims during silence are not", () => {
    const speech = heard(result("hello", 0, "interim"));
    expect(bringsNewWords(speech, result("hello", 0, "interim"))).toBe(false);
    expect(bringsNewWords(speech, result("hello there", 0, "interim"))).toBe(true);
    expect(bringsNewWords(speech, result("", 0))).toBe(false);
  });

  it("takes the turn as one message: completed utterances, the one in progress, then key presses", () => {
    let speech = endUtterance(heard(result("My account number is", 0)));
    speech = pressKey(pressKey(speech, "4"), "2");
    speech = hear(speech, result("that one", 2, "interim"));
    const { text, rest } = takeTurn(speech);
    expect(text).toBe("My account number is that one [caller pressed 4] [caller pressed 2]");
    expect(rest).toMatchObject({ completed: "", finals: "", interim: "", digits: [] });
  });
});

describe("the barge-in gate", () => {
  const isBackchannel = backchannelMatcher(defaultCallConfig.backchannels);
  const gate = (text: string, minWords = 2) => passesBargeInGate(text, { minWords, isBackchannel });

  it("normalizes case, punctuation and hyphens", () => {
    expect(normalizeWords("Mm-hmm. Uh–huh, OK!")).toEqual(["mm", "hmm", "uh", "huh", "ok"]);
    expect(normalizeWords("I'm  here")).toEqual(["i'm", "here"]);
  });

  it("never lets backchannels alone interrupt, however many", () => {
    for (const text of [
      "Mm-hmm.",
      "uh huh",
      "Uh-huh.",
      "Yeah, okay.",
      "yeah yeah yeah",
      "All right.",
      "Oh, I see.",
    ]) {
      expect(gate(text), text).toBe(false);
    }
  });

  it("lets real words through once there are enough of them", () => {
    expect(gate("Wait.")).toBe(false);
    expect(gate("Wait, stop.")).toBe(true);
    expect(gate("Yeah but")).toBe(true);
    expect(gate("No no no", 3)).toBe(true);
    expect(gate("No no", 3)).toBe(false);
    expect(gate("")).toBe(false);
  });

  it("matches multi-word backchannels whole, longest first", () => {
    const matcher = backchannelMatcher(["uh", "uh huh", "got it"]);
    expect(matcher(["uh", "huh"])).toBe(true);
    expect(matcher(["got", "it", "uh"])).toBe(true);
    expect(matcher(["got"])).toBe(false);
    expect(matcher([])).toBe(false);
  });
});
