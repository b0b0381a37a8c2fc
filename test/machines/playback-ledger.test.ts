import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  acknowledge,
  emptyLedger,
  hasUnplayedAudio,
  heardText,
  isDrained,
  isStarved,
  markName,
  type PlaybackLedger,
  parseMarkName,
  startProducing,
  stopProducing,
  unplayedAudioMs,
  withAudio,
  withSegment,
} from "../../machines/playback-ledger.js";

/** A finished utterance of these segments (audio and mark sent for each), none acknowledged yet. */
function sent(texts: string[], generation = 1): PlaybackLedger {
  let ledger = startProducing(emptyLedger);
  texts.forEach((text, segment) => {
    ledger = withSegment(
      withAudio(ledger, 8 * text.length, 0),
      text,
      markName({ turn: 1, segment, generation }),
      0,
    );
  });
  return stopProducing(ledger);
}

describe("mark names", () => {
  it("name turn, segment and generation, and parse back", () => {
    expect(markName({ turn: 3, segment: 1, generation: 7 })).toBe("t3-s1-g7");
    expect(parseMarkName("t3-s1-g7")).toEqual({ turn: 3, segment: 1, generation: 7 });
  });

  it("do not parse marks we never make", () => {
    for (const name of ["", "greeting", "t3-s1", "t-1-s0-g0", "t3-s1-g7-x", "T3-S1-G7"]) {
      expect(parseMarkName(name)).toBeUndefined();
    }
  });
});

describe("the playback ledger", () => {
  it("proves a segment heard only once its mark is echoed, and every earlier one with it", () => {
    let ledger = sent(["Okay, let's check it. ", "Is it the main breaker? ", "Or a small one?"]);
    expect(heardText(ledger)).toBe("");
    ledger = acknowledge(ledger, "t1-s1-g1", 0);
    expect(ledger.played).toBe(2);
    expect(heardText(ledger)).toBe("Okay, let's check it. Is it the main breaker?");
    expect(isDrained(ledger)).toBe(false);
    ledger = acknowledge(ledger, "t1-s2-g1", 0);
    expect(isDrained(ledger)).toBe(true);
  });

  it("ignores an echo it cannot use: unknown, from another generation, or already proved", () => {
    const ledger = acknowledge(sent(["One. ", "Two."]), "t1-s1-g1", 0);
    expect(acknowledge(ledger, "t1-s0-g1", 0)).toBe(ledger);
    expect(acknowledge(ledger, "t1-s1-g1", 0)).toBe(ledger);
    expect(acknowledge(sent(["One."], 2), "t1-s0-g1", 0)).toEqual(sent(["One."], 2));
    expect(acknowledge(ledger, "somebody-else's-mark", 0)).toBe(ledger);
  });

  it("after a clear (a fresh ledger), echoes of the cleared marks prove nothing", () => {
    const before = sent(["One. ", "Two."]);
    let after = emptyLedger;
    for (const segment of before.segments) after = acknowledge(after, segment.mark, 0);
    expect(after).toBe(emptyLedger);
    expect(heardText(after)).toBe("");
  });

  it("is not drained while a producer runs or audio went out after the last mark", () => {
    const producing = startProducing(emptyLedger);
    expect(isDrained(producing)).toBe(false);
    const partial = withAudio(stopProducing(producing), 160, 0);
    expect(isDrained(partial)).toBe(false);
    expect(hasUnplayedAudio(partial)).toBe(true);
    expect(isDrained(emptyLedger)).toBe(true);
    expect(hasUnplayedAudio(emptyLedger)).toBe(false);
  });

  it("is starved when everything sent has played but the producer still owes more", () => {
    const playing = withSegment(withAudio(startProducing(emptyLedger), 80, 0), "One. ", "t1-s0-g1", 0);
    expect(isStarved(playing)).toBe(false);
    const starved = acknowledge(playing, "t1-s0-g1", 0);
    expect(isStarved(starved)).toBe(true);
    expect(isStarved(withAudio(starved, 160, 0))).toBe(false);
    expect(isStarved(stopProducing(starved))).toBe(false);
  });

  it("has unplayed audio while any mark is unanswered", () => {
    const ledger = sent(["One. ", "Two."]);
    expect(hasUnplayedAudio(ledger)).toBe(true);
    expect(hasUnplayedAudio(acknowledge(ledger, "t1-s0-g1", 0))).toBe(true);
    expect(hasUnplayedAudio(acknowledge(ledger, "t1-s1-g1", 0))).toBe(false);
  });

  it("knows how long the audio not yet proven played lasts (8 mulaw bytes a millisecond)", () => {
    const ledger = sent(["One. ", "Three."]); // 5 and 6 characters: 40 and 48 bytes
    expect(unplayedAudioMs(ledger)).toBe(11);
    expect(unplayedAudioMs(acknowledge(ledger, "t1-s0-g1", 0))).toBe(6);
    expect(unplayedAudioMs(withAudio(acknowledge(ledger, "t1-s1-g1", 0), 800, 0))).toBe(100);
  });

  it("joins heard segments with single spaces, whatever spacing the chunker left", () => {
    const ledger = acknowledge(sent(["  Hello,", "world.  ", "   "]), "t1-s2-g1", 0);
    expect(heardText(ledger)).toBe("Hello, world.");
  });

  it("whatever echoes arrive, in any order, the heard text is a prefix of what was sent", () => {
    const segment = fc.string({ minLength: 1, maxLength: 12 }).map((text) => `${text.trim() || "x"}.`);
    fc.assert(
      fc.property(
        fc.array(segment, { minLength: 1, maxLength: 6 }),
        fc.array(
          fc.oneof(
            fc.nat(8).map((i) => `t1-s${i}-g1`),
            fc.nat(8).map((i) => `t1-s${i}-g0`),
          ),
        ),
        (texts, echoes) => {
          let ledger = sent(texts);
          let played = 0;
          for (const echo of echoes) {
            ledger = acknowledge(ledger, echo, 0);
            expect(ledger.played).toBeGreaterThanOrEqual(played);
            played = ledger.played;
          }
          expect(heardText(ledger)).toBe(texts.slice(0, ledger.played).join(" "));
          expect(isDrained(ledger)).toBe(ledger.played === texts.length);
        },
      ),
    );
  });
});
