import type { EngineLogger } from "../engine-logger.js";
import { SampleHistory } from "./sample-history.js";
import { SILERO_SAMPLE_RATE, SILERO_WINDOW_SAMPLES, type SileroVad } from "./silero-vad.js";

export type SpeechSegmentEvent =
  /** Speech began at `at` (the first window above the activation threshold, not when it was confirmed). */
  | { type: "speechStarted"; at: number }
  /**
   * The open segment so far: `audio` holds 8 kHz samples from `audioStart` (pre-roll, before `start`) to
   * `end`, the last sample the VAD has judged.
   */
  | { type: "speechUpdate"; audio: Float32Array; audioStart: number; start: number; end: number }
  /**
   * The segment is over: speech from `start` to `end` (where the silence began), `audio` from `audioStart`
   * to `end`. `cut`: it was ended by `maxSegmentMs` (or `flush`) while the caller was still speaking.
   */
  | {
      type: "speechEnded";
      audio: Float32Array;
      audioStart: number;
      start: number;
      end: number;
      cut: boolean;
    };

export interface SpeechSegmenterSettings {
  /** Probability at or above which a window is speech (default 0.5). */
  activationThreshold?: number;
  /** Probability below which a window is silence once speaking (default 0.35). */
  releaseThreshold?: number;
  /** Speech must last this long before `speechStarted` (default 250). */
  minSpeechMs?: number;
  /** Silence that ends a segment (default 550). */
  minSilenceMs?: number;
  /** Audio kept before the start of speech (default 400). */
  preRollMs?: number;
  /** A segment this long is ended with `cut: true` and a new one opened (default 30,000). */
  maxSegmentMs?: number;
  /** Interval of `speechUpdate` while speaking (default 1,000). */
  interimEveryMs?: number;
  /** Windows waiting for the model before new ones skip inference (default 16, about 0.5 s of audio). */
  maxQueuedWindows?: number;
}

export interface SpeechSegmenterOptions extends SpeechSegmenterSettings {
  /** The shared model (`loadSileroVad`); the segmenter owns only its stream's state. */
  vad: SileroVad;
  onEvent: (event: SpeechSegmentEvent) => void;
  /** Names the call in log lines. */
  callId?: string;
  logger?: Pick<EngineLogger, "warn" | "error">;
}

export interface SpeechSegmenterStats {
  windowsInferred: number;
  /** Windows that reused the previous probability because the model was behind. */
  windowsSkipped: number;
  inferenceErrors: number;
}

export interface SpeechSegmenter {
  /** One Twilio frame (160 bytes of mu-law, 20 ms; other lengths work too). The frame may be reused after. */
  push(frame: Uint8Array): void;
  /** Resolves once every window pushed so far has been judged and its events delivered. */
  drained(): Promise<void>;
  /**
   * Judges what was pushed, then ends an open segment now (`cut: true` if the caller was still speaking), for
   * the end of the stream or a recogniser asked to finalise. Later frames start afresh.
   */
  flush(): Promise<void>;
  /** Stops: pending windows are dropped and no more events come. */
  close(): void;
  readonly stats: Readonly<SpeechSegmenterStats>;
}

export type SpeechSegmenterFactory = (options: SpeechSegmenterOptions) => SpeechSegmenter;

export const SPEECH_SEGMENTER_DEFAULTS: Readonly<Required<SpeechSegmenterSettings>> = {
  activationThreshold: 0.5,
  releaseThreshold: 0.35,
  minSpeechMs: 250,
  minSilenceMs: 550,
  preRollMs: 400,
  maxSegmentMs: 30_000,
  interimEveryMs: 1_000,
  maxQueuedWindows: 16,
};

/** A run of windows waiting for a decision: one to infer, or `count` to judge with the last probability. */
type PendingWindows = { infer: true } | { infer: false; count: number };

type Phase =
  | { name: "silent" }
  /** Above the activation threshold since `start`, not yet for `minSpeechMs`. */
  | { name: "starting"; start: number }
  | { name: "speaking"; start: number; audioStart: number; silenceStart?: number; nextUpdate: number };

export const createSpeechSegmenter: SpeechSegmenterFactory = (options) => {
  const settings = validated(settingsFrom(options));
  const samples = (ms: number) => Math.round((ms * SILERO_SAMPLE_RATE) / 1000);
  const minSpeech = samples(settings.minSpeechMs);
  const minSilence = samples(settings.minSilenceMs);
  const preRoll = samples(settings.preRollMs);
  const maxSegment = samples(settings.maxSegmentMs);
  const interimEvery = samples(settings.interimEveryMs);
  const seconds = (sample: number) => sample / SILERO_SAMPLE_RATE;
  const { onEvent, logger } = options;
  const callId = options.callId ?? "unknown";

  const stream = options.vad.createStream();
  const history = new SampleHistory();
  const pending: PendingWindows[] = [];
  const stats: SpeechSegmenterStats = { windowsInferred: 0, windowsSkipped: 0, inferenceErrors: 0 };
  const idleWaiters: (() => void)[] = [];
  let queuedInfers = 0;
  /** Start of the next window to cut from the pushed audio. */
  let nextWindow = 0;
  /** End of the last judged window: the VAD's "now". */
  let judged = 0;
  let lastProbability = 0;
  /** A new segment's audio never reaches back into the previous one. */
  let lastSegmentEnd = 0;
  let phase: Phase = { name: "silent" };
  let pumping = false;
  let closed = false;
  let skipping = false;

  function emit(event: SpeechSegmentEvent): void {
    try {
      onEvent(event);
    } catch (error) {
      logger?.error({ callId, err: error, event: event.type }, "speech segmenter: the event handler threw");
    }
  }

  function enqueueWindows(): void {
    while (history.end - nextWindow >= SILERO_WINDOW_SAMPLES) {
      nextWindow += SILERO_WINDOW_SAMPLES;
      if (queuedInfers < settings.maxQueuedWindows) {
        pending.push({ infer: true });
        queuedInfers++;
        skipping = false;
        continue;
      }
      if (!skipping) {
        skipping = true;
        logger?.warn(
          { callId, queuedWindows: queuedInfers, windowsSkipped: stats.windowsSkipped + 1 },
          "speech segmenter: VAD inference is behind; windows skip inference and reuse the last probability",
        );
      }
      stats.windowsSkipped++;
      const last = pending.at(-1);
      if (last !== undefined && !last.infer) last.count++;
      else pending.push({ infer: false, count: 1 });
    }
  }

  async function pump(): Promise<void> {
    if (pumping) return;
    pumping = true;
    while (!closed && pending.length > 0) {
      const next = pending[0] as PendingWindows;
      if (next.infer) {
        const window = history.view(judged, judged + SILERO_WINDOW_SAMPLES);
        const probability = await infer(window);
        if (closed) break;
        pending.shift();
        queuedInfers--;
        judge(probability);
      } else {
        pending.shift();
        for (let i = 0; i < next.count && !closed; i++) judge(lastProbability);
      }
    }
    pumping = false;
    for (const wake of idleWaiters.splice(0)) wake();
  }

  async function infer(window: Float32Array): Promise<number> {
    try {
      const probability = await stream.probability(window);
      stats.windowsInferred++;
      return probability;
    } catch (error) {
      // A failing window counts as silence: the call goes on, and the next window starts from a fresh state.
      stats.inferenceErrors++;
      if (stats.inferenceErrors === 1) {
        logger?.error({ callId, err: error }, "speech segmenter: VAD inference failed; treating as silence");
      }
      stream.reset();
      return 0;
    }
  }

  /** Applies the probability of the window [judged, judged + 256) and advances the VAD's "now". */
  function judge(probability: number): void {
    lastProbability = probability;
    const windowStart = judged;
    judged += SILERO_WINDOW_SAMPLES;
    const isSpeech = probability >= settings.activationThreshold;
    const isSilence = probability < settings.releaseThreshold;

    if (phase.name === "silent" && isSpeech) phase = { name: "starting", start: windowStart };
    if (phase.name === "starting") {
      if (isSilence) phase = { name: "silent" };
      else if (judged - phase.start >= minSpeech) openSegment(phase.start, preRoll);
    } else if (phase.name === "speaking") {
      if (isSpeech) phase.silenceStart = undefined;
      else if (isSilence && phase.silenceStart === undefined) phase.silenceStart = windowStart;
      if (phase.silenceStart !== undefined && judged - phase.silenceStart >= minSilence) {
        closeSegment(phase.silenceStart, false);
      } else if (judged - phase.start >= maxSegment) {
        cutSegment();
      } else if (judged >= phase.nextUpdate) {
        phase.nextUpdate += interimEvery;
        emit({
          type: "speechUpdate",
          audio: history.copy(phase.audioStart, judged),
          audioStart: seconds(phase.audioStart),
          start: seconds(phase.start),
          end: seconds(judged),
        });
      }
    }
    history.forgetBefore(keepFrom());
  }

  function openSegment(start: number, withPreRoll: number): void {
    const audioStart = Math.max(start - withPreRoll, lastSegmentEnd);
    phase = { name: "speaking", start, audioStart, nextUpdate: start + interimEvery };
    emit({ type: "speechStarted", at: seconds(start) });
  }

  function closeSegment(end: number, cut: boolean): void {
    if (phase.name !== "speaking") return;
    const { start, audioStart } = phase;
    phase = { name: "silent" };
    lastSegmentEnd = end;
    emit({
      type: "speechEnded",
      audio: history.copy(audioStart, end),
      audioStart: seconds(audioStart),
      start: seconds(start),
      end: seconds(end),
      cut,
    });
  }

  /** At `maxSegmentMs`: end here; if the caller is still speaking, the next segment continues seamlessly. */
  function cutSegment(): void {
    if (phase.name !== "speaking") return;
    const silenceStart = phase.silenceStart;
    closeSegment(silenceStart ?? judged, true);
    if (silenceStart === undefined) openSegment(judged, 0);
  }

  /** The oldest sample still needed: pre-roll of a segment that may start at the next window, or the open one's. */
  function keepFrom(): number {
    switch (phase.name) {
      case "silent":
        return judged - preRoll;
      case "starting":
        return phase.start - preRoll;
      case "speaking":
        return phase.audioStart;
    }
  }

  function drained(): Promise<void> {
    if (!pumping && pending.length === 0) return Promise.resolve();
    return new Promise((resolve) => idleWaiters.push(resolve));
  }

  return {
    push(frame) {
      if (closed || frame.length === 0) return;
      history.appendMulaw(frame);
      enqueueWindows();
      void pump();
    },
    drained,
    async flush() {
      await drained();
      if (closed) return;
      if (phase.name === "speaking") {
        // Samples after the last whole window are part of the speech too when no silence has begun.
        const silenceStart = phase.silenceStart;
        closeSegment(silenceStart ?? history.end, silenceStart === undefined);
      }
      phase = { name: "silent" };
    },
    close() {
      closed = true;
      pending.length = 0;
      queuedInfers = 0;
      for (const wake of idleWaiters.splice(0)) wake();
    },
    stats,
  };
};

function settingsFrom(options: SpeechSegmenterSettings): Required<SpeechSegmenterSettings> {
  const settings = { ...SPEECH_SEGMENTER_DEFAULTS };
  for (const key of Object.keys(settings) as (keyof SpeechSegmenterSettings)[]) {
    const value = options[key];
    if (value !== undefined) settings[key] = value;
  }
  return settings;
}

function validated(settings: Required<SpeechSegmenterSettings>): Required<SpeechSegmenterSettings> {
  const { activationThreshold, releaseThreshold } = settings;
  const problems: string[] = [];
  if (!(activationThreshold > 0 && activationThreshold < 1)) {
    problems.push(`activationThreshold must be between 0 and 1, got ${activationThreshold}`);
  }
  if (!(releaseThreshold > 0 && releaseThreshold <= activationThreshold)) {
    problems.push(
      `releaseThreshold must be above 0 and at most activationThreshold (${activationThreshold}), got ${releaseThreshold}`,
    );
  }
  for (const key of ["minSpeechMs", "minSilenceMs", "preRollMs"] as const) {
    if (!(settings[key] >= 0)) problems.push(`${key} must be 0 or more, got ${settings[key]}`);
  }
  for (const key of ["maxSegmentMs", "interimEveryMs", "maxQueuedWindows"] as const) {
    if (!(settings[key] > 0)) problems.push(`${key} must be more than 0, got ${settings[key]}`);
  }
  if (settings.maxSegmentMs <= settings.minSpeechMs) {
    problems.push(
      `maxSegmentMs (${settings.maxSegmentMs}) must be longer than minSpeechMs (${settings.minSpeechMs})`,
    );
  }
  if (problems.length > 0) throw new RangeError(`speech segmenter: ${problems.join("; ")}`);
  return settings;
}
