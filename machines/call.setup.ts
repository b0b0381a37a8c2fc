/**
 * The call statechart's named parts: its child actors, delays, guards and actions, each a small function of the
 * context and the event. Which of them run in which state is call.machine.ts.
 */
import { assertEvent, assign, cancel, emit, enqueueActions, sendTo, setup } from "xstate";
import type { CallConfig } from "./call-config.js";
import { type CallTimeout, failureOf, failureReport, safely, ttsTimeout } from "./call-failures.js";
import { commitCut, commitPlayed } from "./call-history.js";
import { requestedAction } from "./call-tools.js";
import type {
  CallContext,
  CallEmitted,
  CallInput,
  CallLogLevel,
  CallMachineEvent,
  CallOutput,
  EndReason,
  WordsEvent,
} from "./call-types.js";
import {
  backchannelMatcher,
  bringsNewWords,
  dropUtterance,
  endUtterance,
  hasFinishedTurn,
  hear,
  isDtmfKey,
  isMidUtterance,
  joinWords,
  normalizeWords,
  passesBargeInGate,
  pressKey,
  startUtterance,
  type TranscriptResult,
  takeTurn,
  utteranceText,
  withOnset,
} from "./caller-speech.js";
import { heardAt } from "./heard-speech.js";
import {
  acknowledge,
  emptyLedger,
  hasUnplayedAudio,
  isDrained,
  isStarved,
  markName,
  resumedLedger,
  startProducing,
  stopProducing,
  unplayedAudioMs,
  withAudio,
  withQueued,
  withSegment,
  withText,
} from "./playback-ledger.js";
import { type SpeechInput, type SpeechSource, speechActor } from "./speech.actor.js";
import { type SttRequest, sttActor } from "./stt.actor.js";
import { hangUpActor, transferActor } from "./telephony.actors.js";

const TTS_WATCHDOG = "ttsWatchdog";
/** The pending `caller.spokeOverAgent`: armed when the caller's speech starts under the agent's voice. */
const SPEECH_BARGE_IN = "speechBargeIn";

const matchers = new WeakMap<readonly string[], (words: readonly string[]) => boolean>();
function isBackchannel(config: CallConfig): (words: readonly string[]) => boolean {
  let matcher = matchers.get(config.backchannels);
  if (!matcher) {
    matcher = backchannelMatcher(config.backchannels);
    matchers.set(config.backchannels, matcher);
  }
  return matcher;
}

export function speechInput(context: CallContext, source: SpeechSource): SpeechInput {
  const { telephony } = context.deps.engines;
  return {
    callId: context.callId,
    generation: context.generation,
    source,
    tts: context.deps.engines.tts,
    phrases: context.deps.phrases,
    stream: safely(context, "sending media", (audio: Uint8Array) => telephony.sendMedia(audio)),
  };
}

export function phrase(text: string): SpeechSource {
  return { kind: "phrase", text };
}

/**
 * The most a recogniser's speech start or first word lags the audio it dates (a VAD confirms speech after
 * 250 ms; Deepgram's words come within about a second). A stream time mapped further back than this means the
 * two clocks drifted apart (a reconnected recogniser restarts its stream time), and arrival time is used.
 */
const MAX_RECOGNISER_LAG_MS = 1500;

/**
 * The actor-clock time of a recogniser timestamp (stream seconds), from when Twilio's `start` came, never
 * later than now nor earlier than `MAX_RECOGNISER_LAG_MS` ago.
 */
function clockTimeOf(context: CallContext, streamSeconds: number): number {
  const now = context.deps.now();
  const mapped = context.streamStartedAt + streamSeconds * 1000;
  return Math.min(now, Math.max(mapped, now - MAX_RECOGNISER_LAG_MS));
}

function isFromCurrentSpeech(context: CallContext, event: CallMachineEvent): boolean {
  return "generation" in event && event.generation === context.generation;
}

function transcriptOf(event: WordsEvent): TranscriptResult {
  return { text: event.text, isFinal: event.type === "stt.final", start: event.start, end: event.end };
}

function assertWords(event: CallMachineEvent): asserts event is WordsEvent {
  assertEvent(event, ["stt.interim", "stt.final"]);
}

export const call = setup({
  types: {
    context: {} as CallContext,
    events: {} as CallMachineEvent,
    input: {} as CallInput,
    emitted: {} as CallEmitted,
    output: {} as CallOutput,
  },
  actors: { stt: sttActor, speech: speechActor, hangUp: hangUpActor, transfer: transferActor },
  delays: {
    maxCallDuration: ({ context }) => context.config.maxCallDurationMs,
    idleReprompt: ({ context }) => context.config.idleRepromptMs,
    speechEndTimeout: ({ context }) => context.config.speechEndTimeoutMs,
    dtmfEndOfTurn: ({ context }) => context.config.dtmfEndOfTurnMs,
    llmFirstTokenTimeout: ({ context }) => context.config.llmFirstTokenTimeoutMs,
    replySilenceTimeout: ({ context }) => context.config.replySilenceTimeoutMs,
    /** Counted from the start of the farewell, on top of the audio still queued before it. */
    farewellMarkTimeout: ({ context }) =>
      context.config.farewellMarkTimeoutMs + unplayedAudioMs(context.playback),
    falseInterruptionTimeout: ({ context }) => context.config.falseInterruptionTimeoutMs ?? 0,
  },
  guards: {
    isCurrentSpeech: ({ context, event }) => isFromCurrentSpeech(context, event),
    playbackDrained: ({ context }) => isDrained(context.playback),
    playbackStarved: ({ context }) => isStarved(context.playback),
    /** The reply ended without a word to say (its tool calls, if any, are checked first). */
    saidNothing: ({ context }) =>
      context.playback.segments.length === 0 && context.playback.unmarkedBytes === 0,
    asksToHangUp: ({ context, event }) => {
      assertEvent(event, "speech.done");
      return requestedAction(event.toolCalls, context.tools) === "hangUp";
    },
    asksToTransfer: ({ context, event }) => {
      assertEvent(event, "speech.done");
      return requestedAction(event.toolCalls, context.tools) === "transfer";
    },
    callerFinishedTurn: ({ context }) => hasFinishedTurn(context.caller),
    callerMidUtterance: ({ context }) => isMidUtterance(context.caller),
    callerPressedKeys: ({ context }) => context.caller.digits.length > 0,
    mayReprompt: ({ context }) => context.reprompts < context.config.maxReprompts,
    isKeyPress: ({ event }) => {
      assertEvent(event, "twilio.dtmf");
      return isDtmfKey(event.digit);
    },
    bringsNewWords: ({ context, event }) => {
      assertWords(event);
      return bringsNewWords(context.caller, transcriptOf(event));
    },
    /** While the agent speaks: the caller's utterance, with this result, passes the barge-in gate. */
    bargesIn: ({ context, event }) => {
      assertWords(event);
      return passesBargeInGate(utteranceText(hear(context.caller, transcriptOf(event))), {
        minWords: context.config.bargeInMinWords,
        isBackchannel: isBackchannel(context.config),
      });
    },
    /** Speech that lasted `bargeInSpeechMs` interrupts unless its words so far are only backchannels. */
    speechIsNotBackchannel: ({ context }) => {
      const words = normalizeWords(utteranceText(context.caller));
      return words.length === 0 || !isBackchannel(context.config)(words);
    },
    /**
     * The caller's speech cut the agent before any word came, resuming is on, and something was left unsaid:
     * whether the speech held words decides between listening and resuming.
     */
    mayResume: ({ context }) =>
      context.config.falseInterruptionTimeoutMs !== null &&
      context.cut !== null &&
      context.cut.unheard !== "" &&
      normalizeWords(utteranceText(context.caller)).length === 0,
    /** The interrupting utterance brought no word, or only backchannels: it was not meant for the agent. */
    heardOnlyNoise: ({ context }) => {
      const words = normalizeWords(utteranceText(context.caller));
      return words.length === 0 || isBackchannel(context.config)(words);
    },
  },
  actions: {
    rememberCall: assign(({ context, event }) => {
      assertEvent(event, "twilio.start");
      return { callSid: event.callSid, streamSid: event.streamSid, streamStartedAt: context.deps.now() };
    }),
    acknowledgeMark: assign({
      playback: ({ context, event }) => {
        assertEvent(event, "twilio.mark");
        return acknowledge(context.playback, event.name, context.deps.now());
      },
    }),

    // Speech producers and their audio ---------------------------------------------------------------------
    startSpeech: enqueueActions(({ context, enqueue }) => {
      enqueue.cancel(TTS_WATCHDOG);
      enqueue.assign({ generation: context.generation + 1, playback: startProducing(context.playback) });
    }),
    stopSpeech: enqueueActions(({ context, enqueue }) => {
      enqueue.cancel(TTS_WATCHDOG);
      enqueue.assign({ playback: stopProducing(context.playback) });
    }),
    /**
     * TTS is speaking a segment: the ledger learns its words, and audio is owed: if none comes within
     * `ttsTimeoutMs`, the producer counts as failed.
     */
    armTtsWatchdog: enqueueActions(({ context, event, enqueue }) => {
      assertEvent(event, "speech.synthesizing");
      enqueue.assign({ playback: withText(context.playback, event.text) });
      enqueue.cancel(TTS_WATCHDOG);
      enqueue.raise(ttsTimeout(context), { id: TTS_WATCHDOG, delay: context.config.ttsTimeoutMs });
    }),
    queueSegment: assign({
      playback: ({ context, event }) => {
        assertEvent(event, "speech.queued");
        return withQueued(context.playback, event.text);
      },
    }),
    /**
     * Sends the audio now (and counts what the producer streamed before it); more of this segment is owed
     * until its `speech.segment`, so the watchdog rearms.
     */
    playAudio: enqueueActions(({ context, event, enqueue }) => {
      assertEvent(event, "speech.audio");
      const { telephony } = context.deps.engines;
      enqueue(safely(context, "sending media", () => telephony.sendMedia(event.audio)));
      const bytes = event.streamedBytes + event.audio.length;
      enqueue.assign({ playback: withAudio(context.playback, bytes, context.deps.now()) });
      enqueue.cancel(TTS_WATCHDOG);
      enqueue.raise(ttsTimeout(context), { id: TTS_WATCHDOG, delay: context.config.ttsTimeoutMs });
    }),
    /** The segment's audio is all out: follow it with its mark, the only proof it will have played. */
    closeSegment: enqueueActions(({ context, event, enqueue }) => {
      assertEvent(event, "speech.segment");
      const { telephony } = context.deps.engines;
      const mark = markName({
        turn: context.turn,
        segment: context.playback.segments.length,
        generation: context.generation,
      });
      enqueue.cancel(TTS_WATCHDOG);
      enqueue(safely(context, "sending a mark", () => telephony.sendMark(mark)));
      const now = context.deps.now();
      const playback = withAudio(context.playback, event.streamedBytes, now);
      enqueue.assign({ playback: withSegment(playback, event.text, mark, now) });
    }),
    finishSpeech: enqueueActions(({ context, event, enqueue }) => {
      assertEvent(event, "speech.done");
      enqueue.cancel(TTS_WATCHDOG);
      enqueue.assign({ playback: stopProducing(context.playback) });
      for (const toolCall of event.toolCalls) {
        if (!context.tools.some((tool) => tool.name === toolCall.name)) {
          const { callId } = context;
          const { log } = context.deps;
          enqueue(() =>
            log?.("warn", `ignored a call to a tool we did not offer: ${toolCall.name}`, { callId }),
          );
        }
      }
    }),
    emitReplyAudioStarted: emit(({ context }) => ({
      type: "replyAudioStarted" as const,
      turn: context.turn,
    })),

    // The caller's words -----------------------------------------------------------------------------------
    hearCaller: assign({
      caller: ({ context, event }) => {
        assertWords(event);
        const heard = hear(context.caller, transcriptOf(event));
        return heard === context.caller || event.text.trim() === ""
          ? heard
          : withOnset(heard, clockTimeOf(context, event.start));
      },
    }),
    startUtterance: assign({
      caller: ({ context, event }) => {
        assertEvent(event, "stt.speechStarted");
        return startUtterance(context.caller, clockTimeOf(context, event.at));
      },
    }),
    endUtterance: assign({ caller: ({ context }) => endUtterance(context.caller) }),
    /** An utterance under the agent's voice that ended without interrupting it is forgotten. */
    dropUtterance: assign({ caller: ({ context }) => dropUtterance(context.caller) }),
    /** The end of speech did not come: the recogniser is asked for its finals, and the utterance closed. */
    finalizeStt: sendTo("stt", { type: "finalize" } satisfies SttRequest),
    /**
     * With a noise-proof VAD, speech that goes on under the agent's voice for `bargeInSpeechMs` may
     * interrupt it before any word is recognised (Whisper's first words come only with its interim).
     */
    armSpeechBargeIn: enqueueActions(({ context, enqueue }) => {
      const delay = context.config.bargeInSpeechMs;
      if (delay === null || !context.caller.speaking) return;
      enqueue.cancel(SPEECH_BARGE_IN);
      enqueue.raise({ type: "caller.spokeOverAgent" }, { id: SPEECH_BARGE_IN, delay });
    }),
    disarmSpeechBargeIn: cancel(SPEECH_BARGE_IN),
    pressKey: assign({
      caller: ({ context, event }) => {
        assertEvent(event, "twilio.dtmf");
        return pressKey(context.caller, event.digit);
      },
    }),
    takeCallerTurn: enqueueActions(({ context, enqueue }) => {
      const { text, rest } = takeTurn(context.caller);
      const turn = context.turn + 1;
      enqueue.assign({
        caller: rest,
        answering: joinWords(context.answering, text),
        turn,
        reprompts: 0,
      });
      enqueue.emit({ type: "turnTaken", turn, text });
    }),
    countReprompt: assign({ reprompts: ({ context }) => context.reprompts + 1 }),

    // History ---------------------------------------------------------------------------------------------
    /** The utterance played to its end (or what the marks prove of it, when its producer failed). */
    commitPlayback: assign(({ context }) => ({ ...commitPlayed(context), cut: null })),
    /**
     * Barge-in: Twilio drops what it still holds (its echoes of the dropped marks will prove nothing), and the
     * cut is placed where the caller's ear was when they started talking (`heard-speech.ts`), kept until the
     * call knows whether the interruption held words (`commitCut`, or a resume).
     */
    cutPlayback: enqueueActions(({ context, enqueue }) => {
      const { playback } = context;
      const { engines, log } = context.deps;
      const cut = heardAt(playback, context.caller.onset ?? context.deps.now());
      enqueue.emit({
        type: "bargeIn",
        turn: context.turn,
        heard: playback.played,
        sent: playback.segments.length,
        estimatedWords: cut.estimatedWords,
      });
      if (hasUnplayedAudio(playback))
        enqueue(safely(context, "sending clear", () => engines.telephony.sendClear()));
      const details = {
        callId: context.callId,
        heardSegments: playback.played,
        sentSegments: playback.segments.length,
        estimatedWords: cut.estimatedWords,
      };
      enqueue(() => log?.("info", "the caller interrupted the agent", details));
      enqueue.assign({ cut, playback: emptyLedger });
    }),
    /** The interruption was meant: what the caller heard of the cut utterance joins the history. */
    commitCut: assign(({ context }) =>
      context.cut === null ? {} : { ...commitCut(context, context.cut), cut: null },
    ),
    /** The interruption held no words: the agent goes on from the segment the caller cut into. */
    resumeCut: enqueueActions(({ context, enqueue }) => {
      const heardBefore = context.cut?.upToCutSegment ?? "";
      const { callId, turn } = context;
      const { log } = context.deps;
      enqueue.assign({ playback: resumedLedger(heardBefore) });
      enqueue.emit({ type: "resumed", turn });
      enqueue(() => log?.("info", "the interruption held no words; the agent goes on", { callId }));
    }),

    // Reporting and ending ----------------------------------------------------------------------------------
    /**
     * Every failure, whatever failed: the error of the event being handled (`stt.failed`, `speech.failed`, a
     * REST request's error), or the call's own `timeout` that fired.
     */
    reportFailure: enqueueActions(
      ({ context, event, enqueue }, params: { during: string; timeout?: CallTimeout }) => {
        const report = failureReport(
          context,
          failureOf(context.config, event, params.timeout),
          params.during,
        );
        enqueue(report.write);
        enqueue.emit(report.event);
      },
    ),
    log: ({ context }, params: { level: CallLogLevel; message: string }) =>
      context.deps.log?.(params.level, params.message, { callId: context.callId }),
    setEndReason: assign({
      endReason: ({ context }, params: { reason: EndReason }) => context.endReason ?? params.reason,
    }),
    forgetEndReason: assign({ endReason: null }),
    closeStream: ({ context }) => {
      const { telephony } = context.deps.engines;
      safely(context, "closing the stream", () => telephony.closeStream())();
    },
    emitCallEnded: emit(({ context }) => ({
      type: "callEnded" as const,
      reason: context.endReason ?? "callerHungUp",
    })),
  },
});
