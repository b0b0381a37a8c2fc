/**
 * The one rule that places a barge-in cut: proven segments whole, then an estimate from the audio's timeline.
 */
import { describe, expect, it } from "vitest";
import { DEFAULT_MS_PER_CHAR, heardAt, wordsPlayed } from "../../machines/heard-speech.js";
import {
  acknowledge,
  emptyLedger,
  type PlaybackLedger,
  resumedLedger,
  startProducing,
  withAudio,
  withQueued,
  withSegment,
  withText,
} from "../../machines/playback-ledger.js";

/** 8 bytes of mulaw a millisecond. */
const bytesFor = (ms: number) => ms * 8;

/** Sends `text` as one segment of `ms` of audio at `at`, with its mark. */
function send(ledger: PlaybackLedger, text: string, ms: number, at: number): PlaybackLedger {
  const mark = `t1-s${ledger.segments.length}-g1`;
  return withSegment(withAudio(withText(ledger, text), bytesFor(ms), at), text, mark, at);
}

const FIRST = "We do all kinds of electrical work, "; // 36 characters
const SECOND = "from rewiring old houses to fitting new consumer units. ";

describe("heardAt", () => {
  it("counts a segment whose mark echoed by then as heard whole, and nothing after it when no time passed", () => {
    let ledger = send(send(startProducing(emptyLedger), FIRST, 3600, 0), SECOND, 5000, 0);
    ledger = acknowledge(ledger, "t1-s0-g1", 3600);
    const heard = heardAt(ledger, 3600);
    expect(heard.text).toBe(FIRST.trim());
    expect(heard.estimatedWords).toBe(0);
    expect(heard.upToCutSegment).toBe(FIRST.trim());
    expect(heard.unheard).toBe(SECOND.trim());
  });

  it("estimates within an unproven segment: whole words whose share of its audio had played", () => {
    const ledger = send(startProducing(emptyLedger), FIRST, 3600, 1000);
    // 1.8 s into 3.6 s: half of 36 characters; "of" ends at 18, "electrical" at 29.
    const heard = heardAt(ledger, 2800);
    expect(heard.text).toBe("We do all kinds of");
    expect(heard.estimatedWords).toBe(5);
    expect(heard.startedPlaying).toBe(true);
    expect(heard.upToCutSegment).toBe("");
    expect(heard.unheard).toBe(FIRST.trim());
  });

  it("says nothing was heard when the caller spoke before the first audio could play", () => {
    const ledger = send(startProducing(emptyLedger), FIRST, 3600, 1000);
    const heard = heardAt(ledger, 1000);
    expect(heard).toMatchObject({ text: "", estimatedWords: 0, startedPlaying: false });
  });

  it("dates a segment whose echo came after the cut from the echo: it ended then", () => {
    // Sent at 0 but queued behind earlier audio: the echo at 10 s shows it played from 6.4 s to 10 s.
    let ledger = send(startProducing(emptyLedger), FIRST, 3600, 0);
    ledger = acknowledge(ledger, "t1-s0-g1", 10_000);
    expect(heardAt(ledger, 6000).text).toBe("");
    expect(heardAt(ledger, 8200).text).toBe("We do all kinds of");
    expect(heardAt(ledger, 9800).text).toBe("We do all kinds of electrical");
    expect(heardAt(ledger, 10_000).text).toBe(FIRST.trim());
  });

  it("starts a segment sent after the previous one finished playing when it was sent (the line was silent)", () => {
    let ledger = send(startProducing(emptyLedger), FIRST, 3600, 0);
    ledger = send(ledger, SECOND, 5600, 8000); // 56 characters, 100 ms each
    ledger = acknowledge(ledger, "t1-s0-g1", 3600);
    expect(heardAt(ledger, 7900).text).toBe(FIRST.trim());
    // 1.4 s after it was sent: 14 characters, "from rewiring" is 13.
    expect(heardAt(ledger, 9400).text).toBe(`${FIRST.trim()} from rewiring`);
  });

  it("measures a segment still being synthesized against its text at the utterance's pace, never past the audio sent", () => {
    let ledger = send(startProducing(emptyLedger), FIRST, 3600, 0); // 100 ms a character
    ledger = acknowledge(ledger, "t1-s0-g1", 3600);
    ledger = withAudio(withText(ledger, SECOND), bytesFor(2000), 3600);
    // 1.4 s in: 14 of its 56 characters at 100 ms each.
    expect(heardAt(ledger, 5000).text).toBe(`${FIRST.trim()} from rewiring`);
    // Only 2 s of its audio went out: 20 characters at most, however late the caller cut in.
    expect(heardAt(ledger, 60_000).text).toBe(`${FIRST.trim()} from rewiring old`);
  });

  it("falls back to the default pace before any segment closed", () => {
    const ledger = withAudio(withText(startProducing(emptyLedger), FIRST), bytesFor(1000), 0);
    const chars = 10;
    const heard = heardAt(ledger, chars * DEFAULT_MS_PER_CHAR);
    expect(heard.text).toBe("We do all");
  });

  it("puts what was heard before a resume first, and resumes with queued segments too", () => {
    let ledger = resumedLedger("Earlier words.");
    ledger = withQueued(withQueued(startProducing(ledger), FIRST), SECOND);
    ledger = send(ledger, FIRST, 3600, 0);
    expect(ledger.queued).toEqual([SECOND]);
    const heard = heardAt(ledger, 1800);
    expect(heard.text).toBe("Earlier words. We do all kinds of");
    expect(heard.upToCutSegment).toBe("Earlier words.");
    expect(heard.unheard).toBe(`${FIRST.trim()} ${SECOND.trim()}`);
  });
});

describe("wordsPlayed", () => {
  it("keeps the words whose last character had played", () => {
    expect(wordsPlayed("Sure, I can help", 0.5)).toBe("Sure, I");
    expect(wordsPlayed("Sure, I can help", 0)).toBe("");
    expect(wordsPlayed("Sure, I can help", 1)).toBe("Sure, I can help");
    expect(wordsPlayed("  Sure, I", 0.8)).toBe("Sure,");
  });
});
