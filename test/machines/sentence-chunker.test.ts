import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { createSentenceChunker, type SentenceChunkerOptions } from "../../machines/sentence-chunker.js";

/** Feeds `tokens` one push at a time and returns every segment, flush included. */
function chunk(tokens: readonly string[], options?: SentenceChunkerOptions): string[] {
  const chunker = createSentenceChunker(options);
  const segments = tokens.flatMap((token) => chunker.push(token));
  return [...segments, ...chunker.flush()];
}

/** Splits `text` at the given positions (any numbers; taken modulo the text length, deduplicated). */
function splitAt(text: string, positions: readonly number[]): string[] {
  const cuts = [...new Set(positions.map((p) => p % (text.length + 1)))].sort((a, b) => a - b);
  const tokens: string[] = [];
  let start = 0;
  for (const cut of [...cuts, text.length]) {
    tokens.push(text.slice(start, cut));
    start = cut;
  }
  return tokens;
}

/** Text that looks like an LLM reply: words, numbers, prices, abbreviations, punctuation, newlines. */
const replyText = fc
  .array(
    fc.oneof(
      fc.constantFrom("Hello", "we", "open", "Monday", "the", "dentist", "appointment", "I", "you", "Sure"),
      fc.constantFrom(
        "Dr.",
        "Mr.",
        "e.g.",
        "etc.",
        "a.m.",
        "U.S.",
        "No.",
        "J.",
        "1.",
        "$4.50",
        "3.14",
        "1,000",
      ),
      fc.constantFrom(".", ",", "!", "?", "...", "…", ";", ":", " - ", "—", '."', ".)", "**"),
      fc.constantFrom(" ", " ", " ", "  ", "\n", "\n\n", "\t"),
      fc.string({ maxLength: 6 }),
    ),
    { maxLength: 80 },
  )
  .map((parts) => parts.join(""));

const anyText = fc.oneof(replyText, fc.string({ unit: "binary", maxLength: 200 }));
const chunkerOptions = fc.record({
  minFirstSegmentChars: fc.integer({ min: 1, max: 40 }),
  minClauseSegmentChars: fc.integer({ min: 1, max: 80 }),
  maxSegmentChars: fc.integer({ min: 5, max: 120 }),
});

describe("sentence chunker properties", () => {
  it("joining all segments gives back the input, however it was split into tokens", () => {
    fc.assert(
      fc.property(anyText, fc.array(fc.nat()), chunkerOptions, (text, positions, options) => {
        expect(chunk(splitAt(text, positions), options).join("")).toBe(text);
      }),
      { numRuns: 500 },
    );
  });

  it("never yields an empty segment", () => {
    fc.assert(
      fc.property(anyText, fc.array(fc.nat()), chunkerOptions, (text, positions, options) => {
        for (const segment of chunk(splitAt(text, positions), options)) expect(segment).not.toBe("");
      }),
      { numRuns: 500 },
    );
  });

  it("cuts the same places whatever the token boundaries", () => {
    fc.assert(
      fc.property(anyText, fc.array(fc.nat()), chunkerOptions, (text, positions, options) => {
        expect(chunk(splitAt(text, positions), options)).toEqual(chunk([text], options));
      }),
      { numRuns: 500 },
    );
  });

  it("never cuts inside a word", () => {
    const wordChar = /[\p{L}\p{N}]/u;
    fc.assert(
      fc.property(replyText, chunkerOptions, (text, options) => {
        const segments = chunk([text], options);
        for (let i = 1; i < segments.length; i++) {
          const before = (segments[i - 1] as string).slice(-1);
          const after = (segments[i] as string).slice(0, 1);
          expect(wordChar.test(before) && wordChar.test(after)).toBe(false);
        }
      }),
      { numRuns: 500 },
    );
  });
});

describe("sentence chunker segments", () => {
  it("ends the first segment at a clause boundary once it is long enough, later ones at sentence ends", () => {
    const text =
      "Thanks for calling Acme Dental, how can I help you today? We have openings on Monday, Tuesday and Friday. Bye.";
    expect(chunk([text], { minFirstSegmentChars: 20 })).toEqual([
      "Thanks for calling Acme Dental, ",
      "how can I help you today? ",
      "We have openings on Monday, Tuesday and Friday. ",
      "Bye.",
    ]);
  });

  it("cuts a long later sentence at a clause boundary once the segment holds minClauseSegmentChars", () => {
    const text =
      "Sure. We fit consumer units, smoke alarms and outdoor lights for homes across the county, and we rewire old houses too. Ok?";
    expect(chunk([text], { minFirstSegmentChars: 20 })).toEqual([
      "Sure. ",
      "We fit consumer units, smoke alarms and outdoor lights for homes across the county, ",
      "and we rewire old houses too. ",
      "Ok?",
    ]);
    expect(chunk([text], { minFirstSegmentChars: 20, minClauseSegmentChars: 200 })).toEqual([
      "Sure. ",
      "We fit consumer units, smoke alarms and outdoor lights for homes across the county, and we rewire old houses too. ",
      "Ok?",
    ]);
  });

  it("keeps a short opening clause with its sentence", () => {
    expect(chunk(["Sure, I can help with that. What time suits you?"], { minFirstSegmentChars: 20 })).toEqual(
      ["Sure, I can help with that. ", "What time suits you?"],
    );
  });

  it("yields the first segment as soon as the token after the boundary arrives", () => {
    const chunker = createSentenceChunker({ minFirstSegmentChars: 10 });
    expect(chunker.push("Let me check that")).toEqual([]);
    expect(chunker.push(" for you,")).toEqual([]);
    expect(chunker.push(" one")).toEqual(["Let me check that for you, "]);
    expect(chunker.push(" moment.")).toEqual([]);
    expect(chunker.flush()).toEqual(["one moment."]);
  });

  it("does not split after abbreviations, initials or inside prices and decimals", () => {
    const text =
      "Dr. Smith can see you at 4 p.m. tomorrow. J. K. Rowling paid $4.50 for 3.5 hours, e.g. a short visit. Room No. 5 is free. No. I cannot.";
    expect(chunk([text], { minFirstSegmentChars: 200 })).toEqual([
      "Dr. Smith can see you at 4 p.m. tomorrow. ",
      "J. K. Rowling paid $4.50 for 3.5 hours, e.g. a short visit. ",
      "Room No. 5 is free. ",
      "No. ",
      "I cannot.",
    ]);
  });

  it("waits for the digit after a period before deciding", () => {
    const chunker = createSentenceChunker();
    expect(chunker.push("That costs $4.")).toEqual([]);
    expect(chunker.push("50. Anything")).toEqual(["That costs $4.50. "]);
    expect(chunker.flush()).toEqual(["Anything"]);
  });

  it("treats an ellipsis as a sentence end only before a capital", () => {
    expect(chunk(["Well... I think so. Hmm… let me see. Okay…", " Done."])).toEqual([
      "Well... ",
      "I think so. ",
      "Hmm… let me see. ",
      "Okay… ",
      "Done.",
    ]);
  });

  it("ends segments at line breaks and keeps list numbers with their item", () => {
    expect(chunk(["Options:\n1. Cleaning\n2. Whitening\n\nWhich one?"])).toEqual([
      "Options:\n",
      "1. Cleaning\n",
      "2. Whitening\n\n",
      "Which one?",
    ]);
  });

  it("keeps closing quotes and brackets with their sentence", () => {
    expect(chunk(['She said "See you soon." (That was it.) Then she left!'])).toEqual([
      'She said "See you soon." ',
      "(That was it.) ",
      "Then she left!",
    ]);
  });

  it("cuts an over-long sentence at its last clause boundary, else between words", () => {
    const text = "one two three, four five six seven eight nine ten eleven twelve thirteen fourteen.";
    const segments = chunk([text], { minFirstSegmentChars: 100, maxSegmentChars: 30 });
    expect(segments).toEqual([
      "one two three, ",
      "four five six seven eight ",
      "nine ten eleven twelve ",
      "thirteen fourteen.",
    ]);
    for (const segment of segments) expect(segment.trimEnd().length).toBeLessThanOrEqual(30);
  });

  it("never splits a word longer than the limit", () => {
    const word = "x".repeat(40);
    expect(chunk([`${word} and more`], { maxSegmentChars: 10 })).toEqual([`${word} `, "and more"]);
  });

  it("keeps leading and trailing whitespace", () => {
    expect(chunk(["\n  Hello there. ", "How are you?  \n"])).toEqual([
      "\n  Hello there. ",
      "How are you?  \n",
    ]);
  });

  it("starts afresh after flush", () => {
    const chunker = createSentenceChunker({ minFirstSegmentChars: 5 });
    expect(chunker.push("First reply, yes. Second, ")).toEqual(["First reply, ", "yes. "]);
    expect(chunker.flush()).toEqual(["Second, "]);
    expect(chunker.push("Next reply, and more")).toEqual(["Next reply, "]);
    expect(chunker.flush()).toEqual(["and more"]);
    expect(chunker.flush()).toEqual([]);
  });

  it("rejects limits that are not positive integers", () => {
    expect(() => createSentenceChunker({ minFirstSegmentChars: 0 })).toThrow(/minFirstSegmentChars/);
    expect(() => createSentenceChunker({ maxSegmentChars: 2.5 })).toThrow(/maxSegmentChars/);
    expect(() => createSentenceChunker({ minClauseSegmentChars: -1 })).toThrow(/minClauseSegmentChars/);
  });
});
