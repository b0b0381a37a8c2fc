/**
 * Turns a stream of LLM tokens into speakable segments for TTS.
 *
 * The first segment ends as early as a clause boundary allows (a comma, semicolon, colon or dash once the
 * segment holds `minFirstSegmentChars`), so the caller hears the start of the answer while the rest is still
 * being generated; later segments end at sentence ends, where a TTS voice phrases best, except that a long
 * sentence is also cut at a clause boundary once the segment holds `minClauseSegmentChars`: every segment
 * gets a mark, and a mark is the only proof of what the caller heard, so proof comes at least every long
 * clause (a comma is a pause in the voice anyway).
 *
 * Guarantees, whatever the token boundaries are:
 * - joining every segment (all `push` results, then `flush`) gives back the input exactly, whitespace
 *   included (the whitespace after a boundary stays at the end of the segment it follows);
 * - no segment is empty, and no segment is cut inside a word;
 * - the same text yields the same segments however it was split into tokens: a boundary is only decided once
 *   enough text after it has arrived (for "4." that is the next character: "4.50" or "4. Then").
 */

export interface SentenceChunkerOptions {
  /**
   * The first segment may end at a clause boundary once it holds at least this many characters (leading
   * whitespace not counted). Smaller speaks sooner; larger gives TTS more context for natural prosody.
   * Default 20.
   */
  minFirstSegmentChars?: number;
  /**
   * After the first segment, a segment may end at a clause boundary once it holds at least this many
   * characters (about 4 s of speech at the default). Default 60.
   */
  minClauseSegmentChars?: number;
  /**
   * A segment that reaches this many characters without a sentence end is cut at its last clause boundary,
   * or failing that between two words, so a run-on sentence cannot hold back speech. Default 250.
   */
  maxSegmentChars?: number;
}

export interface SentenceChunker {
  /** Adds streamed text; returns the segments it completed (often none). */
  push(text: string): string[];
  /** Returns what is left as a last segment (if any) and starts afresh for the next reply. */
  flush(): string[];
}

export const DEFAULT_MIN_FIRST_SEGMENT_CHARS = 20;
export const DEFAULT_MIN_CLAUSE_SEGMENT_CHARS = 60;
export const DEFAULT_MAX_SEGMENT_CHARS = 250;

export function createSentenceChunker(options: SentenceChunkerOptions = {}): SentenceChunker {
  const limits: Limits = {
    minFirst: positiveInteger(
      "minFirstSegmentChars",
      options.minFirstSegmentChars ?? DEFAULT_MIN_FIRST_SEGMENT_CHARS,
    ),
    minClause: positiveInteger(
      "minClauseSegmentChars",
      options.minClauseSegmentChars ?? DEFAULT_MIN_CLAUSE_SEGMENT_CHARS,
    ),
    max: positiveInteger("maxSegmentChars", options.maxSegmentChars ?? DEFAULT_MAX_SEGMENT_CHARS),
  };
  let pending = "";
  let isFirstSegment = true;

  return {
    push(text) {
      if (text.length === 0) return [];
      pending += text;
      const segments: string[] = [];
      for (let cut = nextCut(pending, isFirstSegment, limits); cut !== undefined; ) {
        segments.push(pending.slice(0, cut));
        pending = pending.slice(cut);
        isFirstSegment = false;
        cut = nextCut(pending, isFirstSegment, limits);
      }
      return segments;
    },
    flush() {
      const rest = pending;
      pending = "";
      isFirstSegment = true;
      return rest.length > 0 ? [rest] : [];
    },
  };
}

interface Limits {
  minFirst: number;
  minClause: number;
  max: number;
}

function positiveInteger(name: string, value: number): number {
  if (!Number.isInteger(value) || value < 1) {
    throw new RangeError(`sentence chunker: ${name} must be a positive integer, got ${value}`);
  }
  return value;
}

const TERMINATORS = new Set([".", "!", "?", "…"]);
/** Characters that may follow a terminator and still belong to the sentence: quotes, brackets, bold. */
const CLOSERS = new Set(['"', "'", "”", "’", ")", "]", "}", "»", "*", "_"]);
const CLAUSE_MARKS = new Set([",", ";", ":"]);
const DASHES = new Set(["—", "–"]);

/** Words after which a period never ends a sentence, whatever follows ("Dr. Smith", "e.g. Paris"). */
const TITLE_ABBREVIATIONS = new Set([
  "mr",
  "mrs",
  "ms",
  "dr",
  "prof",
  "st",
  "sr",
  "jr",
  "mt",
  "vs",
  "e.g",
  "i.e",
  "approx",
  "dept",
  "ft",
]);
/** Words that abbreviate "number" and friends: "No. 5" is one sentence, "No. I can't." is two. */
const NUMBER_ABBREVIATIONS = new Set(["no", "nos", "nr", "vol", "fig", "p", "pp", "ch", "sec", "art"]);

function isWhitespace(ch: string | undefined): boolean {
  return ch !== undefined && /\s/.test(ch);
}

function isLowercase(ch: string): boolean {
  return ch !== ch.toUpperCase() && ch === ch.toLowerCase();
}

function isDigit(ch: string): boolean {
  return ch >= "0" && ch <= "9";
}

function skipWhitespace(text: string, from: number): number {
  let i = from;
  while (i < text.length && isWhitespace(text[i])) i++;
  return i;
}

/**
 * Where the first segment of `text` ends (the index the next segment starts at), or undefined when that
 * cannot be decided yet. Once defined for a text, it stays the same for any longer text starting with it:
 * that is what makes the segmentation independent of token boundaries.
 */
function nextCut(text: string, isFirstSegment: boolean, limits: Limits): number | undefined {
  const contentStart = skipWhitespace(text, 0);
  let lastClauseCut: number | undefined;
  let lastWordStart: number | undefined;
  let i = contentStart;
  while (i < text.length) {
    if (i - contentStart >= limits.max) {
      // Over-long: fall back to the last clause boundary, else the last word start. A single giant word
      // has neither, so it runs on until the next word begins.
      const fallback = lastClauseCut ?? lastWordStart;
      if (fallback !== undefined) return fallback;
    }
    const ch = text[i] as string;
    if (i > contentStart && !isWhitespace(ch) && isWhitespace(text[i - 1])) {
      if (i - contentStart >= limits.max) return i;
      lastWordStart = i;
    }

    if (TERMINATORS.has(ch)) {
      let end = i;
      while (end < text.length && TERMINATORS.has(text[end] as string)) end++;
      while (end < text.length && CLOSERS.has(text[end] as string)) end++;
      if (end === text.length) return undefined;
      if (!isWhitespace(text[end])) {
        // "4.50", "example.com", "e.g.," – not an end; look at the rest normally.
        i = end;
        continue;
      }
      const next = skipWhitespace(text, end);
      if (next === text.length) return undefined;
      if (endsSentence(text, contentStart, i, next)) return next;
      i = end;
      continue;
    }

    if (ch === "\n") {
      const next = skipWhitespace(text, i);
      if (next === text.length) return undefined;
      return next;
    }

    const clauseEnd = i > contentStart ? clauseBoundaryEnd(text, i) : undefined;
    if (clauseEnd === "undecided") return undefined;
    if (clauseEnd !== undefined) {
      const next = skipWhitespace(text, clauseEnd);
      if (next === text.length) return undefined;
      const minChars = isFirstSegment ? limits.minFirst : limits.minClause;
      if (clauseEnd - contentStart >= minChars) return next;
      lastClauseCut = next;
      i = clauseEnd;
      continue;
    }
    i++;
  }
  return undefined;
}

/**
 * If a clause boundary ends at `i` (a comma, semicolon or colon before whitespace; an em or en dash; a
 * hyphen with spaces on both sides), the index just after its mark. "1,000" and "10:30" are not boundaries.
 */
function clauseBoundaryEnd(text: string, i: number): number | "undecided" | undefined {
  const ch = text[i] as string;
  if (CLAUSE_MARKS.has(ch) || (ch === "-" && isWhitespace(text[i - 1]))) {
    if (i + 1 === text.length) return "undecided";
    return isWhitespace(text[i + 1]) ? i + 1 : undefined;
  }
  if (DASHES.has(ch)) return i + 1;
  return undefined;
}

/**
 * Whether the terminator at `at` ends a sentence, given the first non-whitespace character after it at
 * `next`. Ambiguous cases stay together: a segment that is too long costs a little latency, while a cut in
 * the wrong place makes the voice pause mid-sentence.
 */
function endsSentence(text: string, contentStart: number, at: number, next: number): boolean {
  const terminator = text[at] as string;
  if (terminator === "!" || terminator === "?") return true;
  const following = text[next] as string;
  if (isLowercase(following)) return false; // "e.g. the", "etc. and", "I was... thinking"
  if (terminator === "…" || text[at + 1] === "." || text[at + 1] === "…") return true; // "Well... I"
  const word = wordBefore(text, contentStart, at);
  const lower = word.toLowerCase();
  if (TITLE_ABBREVIATIONS.has(lower)) return false;
  if (/^\p{Lu}$/u.test(word)) return false; // an initial: "J. K. Rowling"
  if (/^(\p{L}\.)+\p{L}$/u.test(word)) return false; // "U.S", "a.m" before a capital: ambiguous, keep
  if (isDigit(following) && NUMBER_ABBREVIATIONS.has(lower)) return false;
  if (/^\d+$/.test(word) && isListMarker(text, contentStart, at - word.length)) return false;
  return true;
}

/** The word right before `at` (letters, digits and inner periods), without opening quotes or brackets. */
function wordBefore(text: string, contentStart: number, at: number): string {
  let start = at;
  while (start > contentStart && /[\p{L}\p{N}.]/u.test(text[start - 1] as string)) start--;
  return text.slice(start, at);
}

/** "1. Call us" at the start of a line or segment is a list item, not a sentence. */
function isListMarker(text: string, contentStart: number, wordStart: number): boolean {
  if (wordStart === contentStart) return true;
  let i = wordStart - 1;
  while (i >= contentStart && (text[i] === " " || text[i] === "\t")) i--;
  return i < contentStart || text[i] === "\n";
}
