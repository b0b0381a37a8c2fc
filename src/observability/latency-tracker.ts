/**
 * Measures where the time of each turn goes, from the milestones one call reports: caller audio and words (STT),
 * the turn decided and the reply's first audio (the statechart), the LLM and TTS streams, marks out and echoes
 * in. Every stamp comes from the clock the call runs on, so a replayed call measures what the recorded one did.
 */
import type { LatencyStage } from "../metrics.js";

/** Milliseconds from an arbitrary origin: `realClock`, or the simulated clock of a replay. */
export interface NowClock {
  now(): number;
}

/** mulaw 8 kHz, one byte a sample. */
const MULAW_BYTES_PER_MS = 8;

export class LatencyTracker {
  private callerAudioMs = 0;
  private lastCallerAudioAt: number | undefined;
  /** When the caller last stopped speaking, for the turn not yet taken. */
  private speechEndedAt: number | undefined;
  /** When the caller stopped speaking, per turn taken whose reply has not started yet. */
  private readonly speechEndOfTurn = new Map<number, number>();
  private lastLlmRequestAt: number | undefined;
  private readonly marksInFlight = new Map<string, number>();

  constructor(
    private readonly clock: NowClock,
    private readonly observe: (stage: LatencyStage, ms: number) => void,
  ) {}

  /** A frame of the caller's audio reached the recogniser. */
  callerAudio(bytes: number): void {
    this.callerAudioMs += bytes / MULAW_BYTES_PER_MS;
    this.lastCallerAudioAt = this.clock.now();
  }

  /**
   * The recogniser heard words in a result ending `audioSeconds` into the stream it was sent. The port gives no
   * word timings, so the result's end stands for the last word's.
   */
  callerWords(audioSeconds: number): void {
    this.speechEndedAt = this.clockTimeOf(audioSeconds);
  }

  /** The recogniser says the speech ended `audioSeconds` in: a finer end, if still open. */
  lastWordEnded(audioSeconds: number): void {
    if (this.speechEndedAt === undefined) return;
    this.speechEndedAt = Math.min(this.speechEndedAt, this.clockTimeOf(audioSeconds));
  }

  /**
   * Stream time to clock time, through the frames sent since: the frame that carried `audioSeconds` arrived
   * that much audio before the last one. Never later than now (a recogniser's rounding must not make it so).
   */
  private clockTimeOf(audioSeconds: number): number {
    const now = this.clock.now();
    if (this.lastCallerAudioAt === undefined) return now;
    return Math.min(now, this.lastCallerAudioAt - (this.callerAudioMs - audioSeconds * 1000));
  }

  /** A key press is not speech: a turn it ends has no end of speech to measure from. */
  keyPressed(): void {
    this.speechEndedAt = undefined;
  }

  turnTaken(turn: number): void {
    const endedAt = this.speechEndedAt;
    this.speechEndedAt = undefined;
    if (endedAt === undefined) return;
    this.observe("endOfTurn", this.clock.now() - endedAt);
    this.speechEndOfTurn.set(turn, endedAt);
  }

  /** The first outbound media of the reply to `turn` was sent. */
  replyAudioStarted(turn: number): void {
    const endedAt = this.speechEndOfTurn.get(turn);
    this.speechEndOfTurn.clear();
    if (endedAt !== undefined) this.observe("voiceToVoice", this.clock.now() - endedAt);
  }

  /** An LLM request went out; call the returned function on its first chunk. */
  llmRequested(): () => void {
    const at = this.clock.now();
    this.lastLlmRequestAt = at;
    return () => this.observe("llmFirstToken", this.clock.now() - at);
  }

  /** The reply handed its first (or a later) segment to TTS: only the first after a request is measured. */
  replySegmentQueued(): void {
    if (this.lastLlmRequestAt === undefined) return;
    this.observe("firstSegment", this.clock.now() - this.lastLlmRequestAt);
    this.lastLlmRequestAt = undefined;
  }

  /** TTS was asked to speak; call the returned function on its first audio. */
  ttsRequested(): () => void {
    const at = this.clock.now();
    return () => this.observe("ttsFirstAudio", this.clock.now() - at);
  }

  markSent(name: string): void {
    this.marksInFlight.set(name, this.clock.now());
  }

  /** `clear` makes Twilio echo every pending mark at once: those echoes say nothing about playback. */
  marksCleared(): void {
    this.marksInFlight.clear();
  }

  markEchoed(name: string): void {
    const sentAt = this.marksInFlight.get(name);
    if (sentAt === undefined) return;
    this.marksInFlight.delete(name);
    this.observe("markRoundTrip", this.clock.now() - sentAt);
  }
}
