/**
 * The playback ledger: what the agent sent the caller in the current utterance and what Twilio proved was
 * played. Pure data and functions, so the statechart's context stays serialisable and every rule here is
 * unit-tested on its own.
 *
 * Twilio plays outbound audio in order and echoes a `mark` once every byte sent before it has played. So an
 * echo of segment k proves segments 0..k were heard, and nothing else does: audio sent after the last echoed
 * mark may or may not have reached the caller's ear. Granularity is one segment (what the sentence chunker
 * cuts: the first clause, then sentences, long ones at their clauses). Within the stretch no mark proves yet,
 * `heard-speech.ts` estimates from the times recorded here where the caller's ear was.
 *
 * Times are the actor clock's milliseconds (`CallDeps.now`), so a replayed call records the same ones.
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
  /** When its first byte was sent. */
  readonly sentAt: number;
  /** When Twilio echoed its mark (or a later one): it had all played by then. null: no proof yet. */
  readonly playedAt: number | null;
}

export interface PlaybackLedger {
  /** Segments in the order their audio was sent, each closed by its mark. */
  readonly segments: readonly PlaybackSegment[];
  /** How many segments (always a prefix) Twilio has proved were played. */
  readonly played: number;
  /** Audio bytes sent after the last mark: what the caller may be hearing that no mark will prove. */
  readonly unmarkedBytes: number;
  /** When the first of the `unmarkedBytes` was sent (null while there are none). */
  readonly unmarkedSince: number | null;
  /** The words TTS is speaking into the `unmarkedBytes` ("" when not known: a segment not started). */
  readonly unmarkedText: string;
  /** Segments the producer has cut from the LLM's text and not yet started speaking, in order. */
  readonly queued: readonly string[];
  /** A speech producer is still running and may add segments. */
  readonly producing: boolean;
  /**
   * What the caller already heard of this same utterance before it was resumed after a false interruption
   * (call.machine.ts `resuming`): heard text starts with it. "" for a fresh utterance.
   */
  readonly heardBefore: string;
}

export const emptyLedger: PlaybackLedger = {
  segments: [],
  played: 0,
  unmarkedBytes: 0,
  unmarkedSince: null,
  unmarkedText: "",
  queued: [],
  producing: false,
  heardBefore: "",
};

/** A ledger for an utterance that goes on from where an interrupted one was cut (`heardBefore`). */
export function resumedLedger(heardBefore: string): PlaybackLedger {
  return { ...emptyLedger, heardBefore };
}

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

/** The producer has the words of a segment it will speak after those before it. */
export function withQueued(ledger: PlaybackLedger, text: string): PlaybackLedger {
  return { ...ledger, queued: [...ledger.queued, text] };
}

/** TTS started speaking `text`: the audio that comes next until the segment closes holds these words. */
export function withText(ledger: PlaybackLedger, text: string): PlaybackLedger {
  return { ...ledger, unmarkedText: text, queued: dequeued(ledger.queued, text) };
}

function dequeued(queued: readonly string[], text: string): readonly string[] {
  return queued[0] === text ? queued.slice(1) : queued;
}

/** `bytes` of audio went out at `at` (or, streamed straight out, since the previous report). */
export function withAudio(ledger: PlaybackLedger, bytes: number, at: number): PlaybackLedger {
  if (bytes === 0) return ledger;
  return {
    ...ledger,
    unmarkedBytes: ledger.unmarkedBytes + bytes,
    unmarkedSince: ledger.unmarkedSince ?? at,
  };
}

/** Closes the audio sent since the last mark as a segment; the caller sends `mark` right after it. */
export function withSegment(ledger: PlaybackLedger, text: string, mark: string, at: number): PlaybackLedger {
  const segment = {
    text,
    mark,
    bytes: ledger.unmarkedBytes,
    sentAt: ledger.unmarkedSince ?? at,
    playedAt: null,
  };
  return {
    ...ledger,
    segments: [...ledger.segments, segment],
    unmarkedBytes: 0,
    unmarkedSince: null,
    unmarkedText: "",
    queued: dequeued(ledger.queued, text),
  };
}

/**
 * Twilio echoed `mark` at `at`: that segment and every one before it had played by then. An echo for a segment
 * not in this ledger (an earlier utterance, or any echo after a clear) changes nothing and returns the very
 * same ledger.
 */
export function acknowledge(ledger: PlaybackLedger, mark: string, at: number): PlaybackLedger {
  const index = ledger.segments.findIndex((segment) => segment.mark === mark);
  if (index < ledger.played) return ledger;
  const segments = ledger.segments.map((segment, i) =>
    i <= index && segment.playedAt === null ? { ...segment, playedAt: at } : segment,
  );
  return { ...ledger, segments, played: index + 1 };
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

/** The text the marks prove the caller heard (after what they heard before a resume). */
export function heardText(ledger: PlaybackLedger): string {
  return joinSegments([
    ledger.heardBefore,
    ...ledger.segments.slice(0, ledger.played).map((segment) => segment.text),
  ]);
}

/** Segments keep their own spacing from the chunker; a phrase appended after a reply needs one space. */
export function joinSegments(texts: readonly string[]): string {
  return texts
    .map((text) => text.trim())
    .filter((text) => text !== "")
    .join(" ");
}
