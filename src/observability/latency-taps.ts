/**
 * Decorators of a call's engine ports that tell the latency tracker what went through them: caller audio and
 * words (STT), request and first chunk (LLM), request and first audio (TTS), marks and clears (Twilio). They
 * change nothing that passes: same items, same errors, same aborts.
 */
import type { CallEngines } from "../../machines/call-types.js";
import type { LlmClient, SttEngine, SttEvent, Telephony, TtsEngine } from "../../machines/engines.js";
import type { LatencyTracker } from "./latency-tracker.js";

export function timeEngines(engines: CallEngines, tracker: LatencyTracker): CallEngines {
  return {
    stt: timedStt(engines.stt, tracker),
    llm: timedLlm(engines.llm, tracker),
    tts: timedTts(engines.tts, tracker),
    telephony: timedTelephony(engines.telephony, tracker),
  };
}

function timedStt(stt: SttEngine, tracker: LatencyTracker): SttEngine {
  return {
    name: stt.name,
    speechStartIsReliable: stt.speechStartIsReliable,
    open(options) {
      const session = stt.open({
        ...options,
        // Before the call hears it: the turn it may end is measured from these words.
        onEvent: (event) => {
          noteSttEvent(event, tracker);
          options.onEvent(event);
        },
      });
      return {
        sendAudio(frame) {
          tracker.callerAudio(frame.length);
          session.sendAudio(frame);
        },
        finalize: () => session.finalize(),
        close: () => session.close(),
      };
    },
  };
}

function noteSttEvent(event: SttEvent, tracker: LatencyTracker): void {
  if ((event.type === "interim" || event.type === "final") && event.text.trim() !== "")
    tracker.callerWords(event.end);
  else if (event.type === "speechEnded") tracker.lastWordEnded(event.at);
}

function timedLlm(llm: LlmClient, tracker: LatencyTracker): LlmClient {
  return {
    name: llm.name,
    stream(request) {
      const firstChunk = tracker.llmRequested();
      return withFirstItemHook(llm.stream(request), firstChunk);
    },
  };
}

function timedTts(tts: TtsEngine, tracker: LatencyTracker): TtsEngine {
  return {
    name: tts.name,
    synthesize(text, options) {
      const firstAudio = tracker.ttsRequested();
      return withFirstItemHook(tts.synthesize(text, options), firstAudio);
    },
  };
}

/**
 * `source`, calling `first` when its first item arrives. A plain delegating iterator rather than an async
 * generator: TTS pieces (50 a second per speaking call) and LLM tokens pass through here, and a generator
 * layer costs several promises per item; this costs one for the first item and none after. `return` and
 * `throw` go to the source, so breaking out of the loop still ends the engine's stream.
 */
export function withFirstItemHook<T>(source: AsyncIterable<T>, first: () => void): AsyncIterable<T> {
  return {
    [Symbol.asyncIterator](): AsyncIterator<T> {
      const inner = source[Symbol.asyncIterator]();
      let seen = false;
      return {
        next: () => {
          if (seen) return inner.next();
          return inner.next().then((result) => {
            if (!result.done && !seen) {
              seen = true;
              first();
            }
            return result;
          });
        },
        return: (value?: unknown) =>
          inner.return ? inner.return(value) : Promise.resolve({ done: true as const, value: undefined }),
        throw: (error?: unknown) => (inner.throw ? inner.throw(error) : Promise.reject(error)),
      };
    },
  };
}

function timedTelephony(telephony: Telephony, tracker: LatencyTracker): Telephony {
  return {
    sendMedia: (mulaw) => telephony.sendMedia(mulaw),
    sendMark: (name) => {
      tracker.markSent(name);
      telephony.sendMark(name);
    },
    sendClear: () => {
      tracker.marksCleared();
      telephony.sendClear();
    },
    hangUp: (callSid) => telephony.hangUp(callSid),
    transfer: (callSid, to) => telephony.transfer(callSid, to),
    closeStream: () => telephony.closeStream(),
  };
}
