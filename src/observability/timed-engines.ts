/**
 * Decorators of a call's engine ports that tell the latency tracker what went through them: caller audio and
 * words (STT), request and first chunk (LLM), request and first audio (TTS), marks and clears (Twilio). They
 * change nothing that passes: same items, same errors, same aborts.
 */
import type { CallEngines } from "../../machines/call.machine.js";
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
  if (event.type === "transcript" && event.text.trim() !== "")
    tracker.callerWords(event.start + event.duration);
  else if (event.type === "utteranceEnd") tracker.lastWordEnded(event.lastWordEnd);
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

async function* withFirstItemHook<T>(source: AsyncIterable<T>, first: () => void): AsyncIterable<T> {
  let seen = false;
  for await (const item of source) {
    if (!seen) {
      seen = true;
      first();
    }
    yield item;
  }
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
