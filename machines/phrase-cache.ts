/**
 * Audio for the fixed phrases (greeting, reprompt, goodbye, apology, transfer message), synthesized once
 * before any call. It is what lets the greeting's first frame leave within milliseconds of Twilio's `start`,
 * and what keeps the apology speakable when the TTS engine itself is the thing that failed.
 *
 * The call actor only needs `get`; tape replay answers `get` from the tape. The server builds one cache at
 * start-up with `createPhraseCache` and shares it between calls (the phrases are the same for every call).
 */
import { asEngineError } from "./engine-errors.js";
import { EngineError, type TtsEngine } from "./engines.js";

export interface PhraseCache {
  /** The whole mulaw 8 kHz audio of `text`, or `undefined` when it was never prepared. */
  get(text: string): Uint8Array | undefined;
}

export interface PreparedPhraseCache extends PhraseCache {
  /**
   * Synthesizes every phrase not yet cached. A phrase that fails stays uncached (the call actor then speaks it
   * through live TTS) and its error is returned, so start-up can log it and go on.
   */
  prepare(texts: readonly string[], signal?: AbortSignal): Promise<{ text: string; error: EngineError }[]>;
}

export function createPhraseCache(tts: TtsEngine, options: { callId?: string } = {}): PreparedPhraseCache {
  const audio = new Map<string, Uint8Array>();
  const callId = options.callId ?? "phrase-cache";

  const synthesize = async (text: string, signal: AbortSignal): Promise<Uint8Array> => {
    const pieces: Uint8Array[] = [];
    let length = 0;
    for await (const piece of tts.synthesize(text, { callId, signal })) {
      pieces.push(piece);
      length += piece.length;
    }
    if (length === 0)
      throw new EngineError("tts", "protocol", `the TTS engine returned no audio for "${text}"`);
    const whole = new Uint8Array(length);
    let offset = 0;
    for (const piece of pieces) {
      whole.set(piece, offset);
      offset += piece.length;
    }
    return whole;
  };

  return {
    get: (text) => audio.get(text),
    async prepare(texts, signal = new AbortController().signal) {
      const failures: { text: string; error: EngineError }[] = [];
      // One at a time: an in-process TTS engine shares the CPU with everything else at start-up.
      for (const text of new Set(texts)) {
        if (audio.has(text)) continue;
        try {
          audio.set(text, await synthesize(text, signal));
        } catch (error) {
          failures.push({ text, error: asEngineError("tts", error) });
        }
      }
      return failures;
    },
  };
}
