/**
 * The playback ledger: what the agent sent the caller in the current utterance and what Twilio proved was
 * played. Pure data and functions, so the statechart's context stays serialisable and every rule here is
 * unit-tested on its own.
 *
 * Twilio plays outbound audio in order and echoes a `mark` once every byte sent before it has played. So an
 * echo of segment k proves segments 0..k were heard, and nothing else does: audio sent after the last echoed
 * mark may or may not have reached the caller's ear. Granularity is one segment (what the sentence chunker
 * cuts: the first clause, then whole sentences).
 *
 * `clear` makes Twilio drop its buffer *and* echo every pending mark at once, so echoes that arrive after we
 * sent `clear` prove nothing. The ledger is simply replaced by an empty one on clear: every mark name carries a
 * generation that never repeats, so a late echo matches no segment and is ignored.
 */

export interface PlaybackSegment {
  /** The words of this segment, as sent to TTS. */
  readonly text: string;
  /** The mark sent right after the segment's last audio byte. */
  readonly mark: string;
  /** Audio bytes sent for it (mulaw 8 kHz: 8 bytes a millisecond). */
  readonly bytes: number;
}

export interface PlaybackLedger {
  /** Segments in the order their audio was sent, each closed by its mark. */
  readonly segments: readonly PlaybackSegment[];
  /** How many segments (always a prefix) Twilio has proved were played. */
  readonly played: number;
  /** Audio bytes sent after the last mark: what the caller may be hearing that no mark will prove. */
  readonly unmarkedBytes: number;
  /** A speech producer is still running and may add segments. */
  readonly producing: boolean;
}

export const emptyLedger: PlaybackLedger = {
  segments: [],
  played: 0,
  unmarkedBytes: 0,
  producing: false,
};

export interface MarkId {
  /** The caller turn the audio answers (0 = before the caller first spoke). */
  turn: number;
  /** The segment's index within the utterance. */
  segment: number;
  /** The speech producer that made the audio; never reused within a call. */
  generation: number;
}

/** `t3-s1-g7`: short (Twilio echoes it back), readable in a tape, unique within a call. */
export function markName({ turn, segment, generation }: MarkId): string {
  return `t${turn}-s${segment}-g${generation}`;
}

const MARK_PATTERN = /^t(\d+)-s(\d+)-g(\d+)$/;

/** The parts of a mark name we made; `undefined` for anything else (a mark we never sent). */
export function parseMarkName(name: string): MarkId | undefined {
  const match = MARK_PATTERN.exec(name);
  if (!match) return undefined;
  return { turn: Number(match[1]), segment: Number(match[2]), generation: Number(match[3]) };
}

export function startProducing(ledger: PlaybackLedger): PlaybackLedger {
  return ledger.producing ? ledger : { ...ledger, producing: true };
}

export function stopProducing(ledger: PlaybackLedger): PlaybackLedger {
  return ledger.producing ? { ...ledger, producing: false } : ledger;
}

export function withAudio(ledger: PlaybackLedger, bytes: number): PlaybackLedger {
  return { ...ledger, unmarkedBytes: ledger.unmarkedBytes + bytes };
}

/** Closes the audio sent since the last mark as a segment; the caller sends `mark` right after it. */
export function withSegment(ledger: PlaybackLedger, text: string, mark: string): PlaybackLedger {
  const segment = { text, mark, bytes: ledger.unmarkedBytes };
  return { ...ledger, segments: [...ledger.segments, segment], unmarkedBytes: 0 };
}

/**
 * Twilio echoed `mark`. An echo for a segment not in this ledger (an earlier utterance, or any echo after a
 * clear) changes nothing and returns the very same ledger.
 */
export function acknowledge(ledger: PlaybackLedger, mark: string): PlaybackLedger {
  const index = ledger.segments.findIndex((segment) => segment.mark === mark);
  if (index < ledger.played) return ledger;
  return { ...ledger, played: index + 1 };
}

/** Everything was sent, nothing more will come, and Twilio proved all of it played: the utterance is over. */
export function isDrained(ledger: PlaybackLedger): boolean {
  return !ledger.producing && ledger.unmarkedBytes === 0 && ledger.played === ledger.segments.length;
}

/** The caller hears silence although the utterance is not over: every byte sent has played, more is owed. */
export function isStarved(ledger: PlaybackLedger): boolean {
  return ledger.producing && ledger.unmarkedBytes === 0 && ledger.played === ledger.segments.length;
}

/** Audio is queued at Twilio that the marks do not yet prove was played (what a `clear` would discard). */
export function hasUnplayedAudio(ledger: PlaybackLedger): boolean {
  return ledger.unmarkedBytes > 0 || ledger.played < ledger.segments.length;
}

/** How long the audio not yet proven played lasts, at most (some of it may be playing right now). */
export function unplayedAudioMs(ledger: PlaybackLedger): number {
  let bytes = ledger.unmarkedBytes;
  for (let i = ledger.played; i < ledger.segments.length; i += 1) bytes += ledger.segments[i]?.bytes ?? 0;
  return bytes / MULAW_BYTES_PER_MS;
}

/** mulaw at 8 kHz: one byte per sample. */
const MULAW_BYTES_PER_MS = 8;

/** The text the marks prove the caller heard. */
export function heardText(ledger: PlaybackLedger): string {
  return joinSegments(ledger.segments.slice(0, ledger.played).map((segment) => segment.text));
}

/** Segments keep their own spacing from the chunker; a phrase appended after a reply needs one space. */
function joinSegments(texts: readonly string[]): string {
  return texts
    .map((text) => text.trim())
    .filter((text) => text !== "")
    .join(" ");
}
