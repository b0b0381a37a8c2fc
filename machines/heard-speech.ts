/**
 * Where the caller's ear was in the agent's utterance at a given moment: the one rule that turns the playback
 * ledger into the words the caller heard when they started talking over the agent.
 *
 * Proof and estimate. A segment whose mark Twilio echoed by that moment was heard whole: that is proof, and
 * the only proof there is. Past the last such segment, this module ESTIMATES: Twilio plays audio in order and
 * in real time, so a segment starts playing when it was sent or when the one before it finished, whichever is
 * later (a segment whose echo came after the moment ended playing at its echo, which dates its start more
 * closely), and its words are spread over its audio in proportion to their characters. A word counts as heard
 * once all of its estimated audio had played. A segment still being synthesized is measured against the
 * length its text should take, at the pace of this utterance's finished segments (or, for the first one,
 * `DEFAULT_MS_PER_CHAR`), and never past the audio actually sent.
 *
 * What the estimate cannot see: Twilio's outbound delay (network and jitter buffer, typically 100-300 ms)
 * before the first echo anchors the timeline, and a stall of a streaming TTS inside a segment. Both make it
 * count a word or so too many; mark echoes correct it wherever they exist, which is why long sentences are
 * cut at their clauses (one mark each) by the sentence chunker.
 */
import { joinSegments, type PlaybackLedger } from "./playback-ledger.js";

/** mulaw at 8 kHz: one byte per sample. */
const MULAW_BYTES_PER_MS = 8;
/**
 * Speaking pace when the utterance has no finished segment to measure: about 14 characters a second, which is
 * 150 words a minute of English, the pace of the TTS voices we ship (Kokoro af_heart, Piper lessac-medium).
 */
export const DEFAULT_MS_PER_CHAR = 70;

export interface HeardSpeech {
  /** What the caller heard of the utterance: proven segments, then the estimated words, whole words only. */
  text: string;
  /**
   * The heard text up to the start of the segment the caller cut into (that segment's words excluded): where
   * a resumed utterance picks up, so it starts on a natural boundary.
   */
  upToCutSegment: string;
  /**
   * The words from the start of the cut segment to the last one the producer had cut from the LLM's text:
   * what a resume says (a sentence the LLM had not finished is lost, so a resume ends on a whole segment).
   */
  unheard: string;
  /** How many of the heard words are an estimate rather than proven by a mark. */
  estimatedWords: number;
  /** Any audio had started playing by then (false: the caller spoke before hearing anything). */
  startedPlaying: boolean;
}

interface Piece {
  text: string;
  bytes: number;
  sentAt: number;
  playedAt: number | null;
  /** Audio still coming: `bytes` is what was sent so far, not the segment's length. */
  open: boolean;
}

/** What the caller had heard of `ledger`'s utterance at `at` (actor clock ms). See the module comment. */
export function heardAt(ledger: PlaybackLedger, at: number): HeardSpeech {
  const pieces = piecesOf(ledger);
  const msPerChar = paceOf(ledger);
  const whole: string[] = [ledger.heardBefore];
  let partial = "";
  let cutIndex = pieces.length;
  let estimatedWords = 0;
  let startedPlaying = false;
  /** When the previous piece finished playing (proven or estimated). */
  let previousEnd = Number.NEGATIVE_INFINITY;

  for (const [index, piece] of pieces.entries()) {
    const durationMs = piece.bytes / MULAW_BYTES_PER_MS;
    if (piece.playedAt !== null && piece.playedAt <= at) {
      whole.push(piece.text);
      startedPlaying = true;
      previousEnd = piece.playedAt;
      continue;
    }
    // Estimate from here on: no mark proves this piece had played by `at`.
    const start =
      piece.playedAt !== null
        ? Math.max(previousEnd, piece.playedAt - durationMs)
        : Math.max(previousEnd, piece.sentAt);
    const playedMs = Math.min(at - start, durationMs);
    if (playedMs <= 0) {
      cutIndex = index;
      break;
    }
    startedPlaying = true;
    const lengthMs = piece.open ? Math.max(durationMs, piece.text.length * msPerChar) : durationMs;
    if (playedMs >= lengthMs) {
      whole.push(piece.text);
      estimatedWords += wordCount(piece.text);
      previousEnd = start + durationMs;
      continue;
    }
    partial = wordsPlayed(piece.text, playedMs / lengthMs);
    estimatedWords += wordCount(partial);
    cutIndex = index;
    break;
  }

  const upToCutSegment = joinSegments(whole);
  return {
    text: joinSegments([upToCutSegment, partial]),
    upToCutSegment,
    unheard: joinSegments([...pieces.slice(cutIndex).map((piece) => piece.text), ...ledger.queued]),
    estimatedWords,
    startedPlaying,
  };
}

/**
 * The words of `text` whose audio had all played once `fraction` (0..1) of it had, audio spread over the
 * characters evenly: "Sure, I can help" at 0.5 is "Sure, I" (the "c" of "can" is past the middle).
 */
export function wordsPlayed(text: string, fraction: number): string {
  const playedChars = fraction * text.length;
  let end = 0;
  for (const match of text.matchAll(/\S+/g)) {
    const wordEnd = match.index + match[0].length;
    if (wordEnd > playedChars) break;
    end = wordEnd;
  }
  return text.slice(0, end).trim();
}

function piecesOf(ledger: PlaybackLedger): Piece[] {
  const pieces: Piece[] = ledger.segments.map((segment) => ({ ...segment, open: false }));
  if (ledger.unmarkedBytes > 0 && ledger.unmarkedSince !== null) {
    pieces.push({
      text: ledger.unmarkedText,
      bytes: ledger.unmarkedBytes,
      sentAt: ledger.unmarkedSince,
      playedAt: null,
      open: ledger.producing,
    });
  }
  return pieces;
}

/** Milliseconds of audio per character in this utterance's closed segments. */
function paceOf(ledger: PlaybackLedger): number {
  let bytes = 0;
  let chars = 0;
  for (const segment of ledger.segments) {
    bytes += segment.bytes;
    chars += segment.text.trim().length;
  }
  return chars > 0 && bytes > 0 ? bytes / MULAW_BYTES_PER_MS / chars : DEFAULT_MS_PER_CHAR;
}

function wordCount(text: string): number {
  return text.match(/\S+/g)?.length ?? 0;
}
