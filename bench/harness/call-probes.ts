/**
 * Server-side timestamps of the bench's calls. Every figure is a difference of two `performance.now()` readings
 * taken in the server process, so no clock is compared across processes:
 *
 * - greeting:  the `start` message reaching the server (the WebSocket `message` event, before parsing)
 *              -> the first `media` message handed to the socket (`ws.send` returned).
 * - turn:      the fake STT handing the end-of-turn result (`speech_final`) to the call
 *              -> the first `media` message of the reply handed to the socket, minus the fake engines'
 *              latencies: the configured ones, and what their timer thread posted late (fixed-latency-engines.ts).
 * - barge-in:  the fake STT handing over an interim result that passes the barge-in gate
 *              -> the `clear` message handed to the socket.
 *
 * Each call also counts its frames (in: reached STT; out: media messages sent) and, inside a measurement
 * window, how late frames went through: caller frames reaching STT against their 20 ms schedule, agent audio
 * handed to the socket against when the TTS engine had it due. Both for the capacity figure.
 */
import { FRAME_MS, MULAW_FRAME_BYTES } from "../../src/audio/frames.js";

export interface LatencySamples {
  /** ms, `start` -> first greeting frame sent. */
  greeting: number[];
  /** ms, end of turn -> first reply frame sent, engine latencies subtracted. */
  turn: number[];
  /**
   * For each `turn` sample, the server-clock spans it was counted over, flat as [from, to, ...]: up to the LLM
   * request, from the LLM's reply to the TTS request, from TTS's reply to the wire (the engines' waits left out).
   */
  turnSpans: number[][];
  /** ms, interim passing the gate -> `clear` sent. */
  bargeIn: number[];
  /** Where the turn overhead goes (ms each): up to the LLM request, ... */
  turnToLlmRequest: number[];
  /** ... from the LLM's first token to the TTS request, ... */
  llmTokenToTtsRequest: number[];
  /** ... and from TTS's first audio to the frame on the socket. */
  ttsAudioToWire: number[];
  /**
   * ms from an engine reply being posted (LLM first token, TTS first audio) to the server running it: the event
   * loop picking it up, which in an idle process means being woken. Part of the turn overhead.
   */
  engineReplyPickup: number[];
  /** ms the fake engines' timer thread posted its replies after their deadline (subtracted from `turn`). */
  engineLate: number[];
  /** Barge-ins the call reported (`bargeIn` events): each should have produced one `bargeIn` sample. */
  bargeInEvents: number;
}

function emptySamples(): LatencySamples {
  return {
    greeting: [],
    turn: [],
    turnSpans: [],
    bargeIn: [],
    turnToLlmRequest: [],
    llmTokenToTtsRequest: [],
    ttsAudioToWire: [],
    engineReplyPickup: [],
    engineLate: [],
    bargeInEvents: 0,
  };
}

/** One call's frame accounting, kept after the call ended when the bench needs it. */
export interface CallFrameCounts {
  callSid: string;
  framesIn: number;
  framesOut: number;
}

/** How late frames went through the server against their 20 ms schedule, over a measurement window. */
export interface FrameLateness {
  frames: number;
  /** Frames more than `lateFrameMs` behind. */
  lateFrames: number;
  maxMs: number;
}

/**
 * Inbound: caller frames reaching STT, against the caller's 20 ms clock. Outbound: agent frames handed to the
 * socket, against when the TTS engine had them due.
 */
export interface WindowLateness {
  inbound: FrameLateness;
  outbound: FrameLateness;
}

function emptyLateness(): WindowLateness {
  return {
    inbound: { frames: 0, lateFrames: 0, maxMs: 0 },
    outbound: { frames: 0, lateFrames: 0, maxMs: 0 },
  };
}

export interface ProbeSettings {
  llmFirstTokenMs: number;
  ttsFirstAudioMs: number;
  lateFrameMs: number;
  collectSamples: boolean;
}

interface Reply {
  /** When the end-of-turn result that started this turn was handed to the call. */
  since: number;
  llmRequestedAt?: number;
  ttsRequestedAt?: number;
  /** How late each engine replied beyond its configured latency. */
  llmLateMs: number;
  ttsLateMs: number;
}

const MEDIA_PREFIX = '{"event":"media"';
const CLEAR_PREFIX = '{"event":"clear"';

export class CallProbe {
  framesIn = 0;
  framesOut = 0;
  /** Smallest (arrival - n x 20 ms) so far: the offset of a frame that came exactly on schedule. */
  private inboundOffset = Number.POSITIVE_INFINITY;
  private greeted = false;
  /** Set only while the fake STT hands a result to the call (the call reacts synchronously). */
  private handingOverFinalAt: number | undefined;
  private handingOverInterimAt: number | undefined;
  private reply: Reply | undefined;
  /**
   * The piece of audio the TTS engine yielded last and when it had it due. The call sends each piece before
   * the engine yields the next (or drops it on a barge-in), so one slot is enough.
   */
  private lastYielded: { audio: Uint8Array | undefined; due: number } = { audio: undefined, due: 0 };

  constructor(
    readonly callSid: string,
    private readonly startArrivedAt: number,
    private readonly settings: ProbeSettings,
    private readonly samples: LatencySamples,
    private readonly lateness: { window: WindowLateness | undefined },
  ) {}

  /** A caller frame reached STT at `now`. */
  frameIn(now: number): void {
    const offset = now - this.framesIn * FRAME_MS;
    this.framesIn += 1;
    if (offset < this.inboundOffset) this.inboundOffset = offset;
    const window = this.lateness.window;
    if (window) this.countLateness(window.inbound, offset - this.inboundOffset, 1);
  }

  /** The TTS engine yields `audio`, which was due at `due` (its pacing schedule). */
  audioYielded(audio: Uint8Array, due: number): void {
    this.lastYielded.audio = audio;
    this.lastYielded.due = due;
  }

  /** The call handed `audio` to the socket (all of its frames) at `now`. */
  audioSent(audio: Uint8Array, now: number): void {
    const window = this.lateness.window;
    if (audio !== this.lastYielded.audio || !window) return;
    this.lastYielded.audio = undefined;
    this.countLateness(
      window.outbound,
      now - this.lastYielded.due,
      Math.ceil(audio.length / MULAW_FRAME_BYTES),
    );
  }

  private countLateness(into: FrameLateness, lateMs: number, frames: number): void {
    into.frames += frames;
    if (lateMs > into.maxMs) into.maxMs = lateMs;
    if (lateMs > this.settings.lateFrameMs) into.lateFrames += frames;
  }

  /** The fake STT hands a result over inside `handOver`; `at` is read just before. */
  handOver(kind: "final" | "interim", at: number, handOver: () => void): void {
    if (kind === "final") this.handingOverFinalAt = at;
    else this.handingOverInterimAt = at;
    try {
      handOver();
    } finally {
      this.handingOverFinalAt = undefined;
      this.handingOverInterimAt = undefined;
    }
  }

  /** The call emitted `turnTaken`: if the end-of-turn result being handed over caused it, time the reply. */
  turnTaken(): void {
    if (this.handingOverFinalAt !== undefined)
      this.reply = { since: this.handingOverFinalAt, llmLateMs: 0, ttsLateMs: 0 };
  }

  /** An engine's reply, due at `due` and posted `engineLateMs` after that, is being handled at `now`. */
  engineReplied(engine: "llm" | "tts", due: number, engineLateMs: number, now: number): void {
    if (!this.reply) return;
    if (engine === "llm") this.reply.llmLateMs = engineLateMs;
    else this.reply.ttsLateMs = engineLateMs;
    this.record(this.samples.engineLate, engineLateMs);
    this.record(this.samples.engineReplyPickup, now - due - engineLateMs);
  }

  bargedIn(): void {
    this.samples.bargeInEvents += 1;
  }

  llmRequested(at: number): void {
    if (this.reply && this.reply.llmRequestedAt === undefined) this.reply.llmRequestedAt = at;
  }

  ttsRequested(at: number): void {
    const reply = this.reply;
    if (reply?.llmRequestedAt !== undefined && reply.ttsRequestedAt === undefined) reply.ttsRequestedAt = at;
  }

  /** `ws.send(text)` returned for this call's socket. */
  sent(text: string): void {
    if (text.startsWith(MEDIA_PREFIX)) {
      this.framesOut += 1;
      if (!this.greeted) {
        this.greeted = true;
        this.record(this.samples.greeting, performance.now() - this.startArrivedAt);
      }
      if (this.reply) this.replyStarted(this.reply, performance.now());
    } else if (text.startsWith(CLEAR_PREFIX) && this.handingOverInterimAt !== undefined) {
      this.record(this.samples.bargeIn, performance.now() - this.handingOverInterimAt);
    }
  }

  counts(): CallFrameCounts {
    return { callSid: this.callSid, framesIn: this.framesIn, framesOut: this.framesOut };
  }

  private replyStarted(reply: Reply, now: number): void {
    this.reply = undefined;
    const { llmFirstTokenMs, ttsFirstAudioMs } = this.settings;
    const llmMs = llmFirstTokenMs + reply.llmLateMs;
    const ttsMs = ttsFirstAudioMs + reply.ttsLateMs;
    this.record(this.samples.turn, now - reply.since - llmMs - ttsMs);
    if (reply.llmRequestedAt === undefined || reply.ttsRequestedAt === undefined) {
      if (this.settings.collectSamples) this.samples.turnSpans.push([reply.since, now]);
      return;
    }
    if (this.settings.collectSamples) {
      this.samples.turnSpans.push([
        reply.since,
        reply.llmRequestedAt,
        reply.llmRequestedAt + llmMs,
        reply.ttsRequestedAt,
        reply.ttsRequestedAt + ttsMs,
        now,
      ]);
    }
    this.record(this.samples.turnToLlmRequest, reply.llmRequestedAt - reply.since);
    this.record(this.samples.llmTokenToTtsRequest, reply.ttsRequestedAt - reply.llmRequestedAt - llmMs);
    this.record(this.samples.ttsAudioToWire, now - reply.ttsRequestedAt - ttsMs);
  }

  private record(into: number[], ms: number): void {
    if (this.settings.collectSamples) into.push(ms);
  }
}

/** Every live call's probe by CallSid, and the frame counts of ended calls when asked to keep them. */
export class ProbeRegistry {
  /** One object for the life of the registry: live probes hold it; a drain swaps its arrays. */
  private readonly samples = emptySamples();
  private readonly live = new Map<string, CallProbe>();
  private ended: CallFrameCounts[] = [];
  /** Lateness is only counted inside a measurement window. */
  private readonly lateness: { window: WindowLateness | undefined } = { window: undefined };

  constructor(
    private readonly settings: ProbeSettings,
    private readonly keepEndedCounts: boolean,
  ) {}

  open(callSid: string, startArrivedAt: number): CallProbe {
    const probe = new CallProbe(callSid, startArrivedAt, this.settings, this.samples, this.lateness);
    this.live.set(callSid, probe);
    return probe;
  }

  get(callSid: string): CallProbe | undefined {
    return this.live.get(callSid);
  }

  close(callSid: string): void {
    const probe = this.live.get(callSid);
    if (!probe) return;
    this.live.delete(callSid);
    if (this.keepEndedCounts) this.ended.push(probe.counts());
  }

  startWindow(): void {
    this.lateness.window = emptyLateness();
  }

  endWindow(): WindowLateness {
    const window = this.lateness.window ?? emptyLateness();
    this.lateness.window = undefined;
    return window;
  }

  get liveCalls(): number {
    return this.live.size;
  }

  /** The samples and ended calls so far; the next drain starts from empty. */
  drain(): { samples: LatencySamples; ended: CallFrameCounts[] } {
    const drained = { samples: { ...this.samples }, ended: this.ended };
    Object.assign(this.samples, emptySamples());
    this.ended = [];
    return drained;
  }
}
