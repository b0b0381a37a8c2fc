/**
 * What the caller has said and not yet had answered, built from STT results. Pure data and functions: the
 * statechart decides *when* a turn ends, this module only keeps the words straight.
 *
 * Recognisers send interim results (the current guess for the words not yet final, each replacing the last)
 * and finals (those words will not change; later results never repeat them). An utterance is the run of
 * results between the recogniser's `speechStarted` and `speechEnded`.
 */

export interface CallerSpeech {
  /** Utterances that ended (the recogniser's speechEnded, or our own maximum wait), not yet taken as a turn. */
  readonly completed: string;
  /** Finals of the utterance in progress. */
  readonly finals: string;
  /** The latest interim guess for the rest of the utterance in progress. */
  readonly interim: string;
  /** Stream time (s) where the interim guess we already used ends. */
  readonly interimEnd: number;
  /**
   * Results starting before this stream time (s) re-cover audio whose interim guess was already used, when an
   * utterance had to end without its final; they are dropped so no words are counted twice.
   */
  readonly consumedUntil: number;
  /** Keypad presses, as the text the LLM reads (`[caller pressed 5]`). */
  readonly digits: readonly string[];
  /** The recogniser said the caller's speech started, and has not yet said it ended. */
  readonly speaking: boolean;
  /**
   * When the utterance in progress began (actor clock ms): its speech start, else its first words. Where the
   * agent's voice is cut in the history when this utterance interrupts it. null between utterances.
   */
  readonly onset: number | null;
}

export const silentCaller: CallerSpeech = {
  completed: "",
  finals: "",
  interim: "",
  interimEnd: 0,
  consumedUntil: 0,
  digits: [],
  speaking: false,
  onset: null,
};

export interface TranscriptResult {
  text: string;
  isFinal: boolean;
  /** Stream times (s) of the audio the words cover. */
  start: number;
  end: number;
}

/**
 * Adds one STT result to the utterance in progress and returns the very same object for a result that only
 * repeats audio already used. Whether the end of speech takes the utterance or drops it is the statechart's
 * call (it depends on whether the agent was speaking).
 */
export function hear(speech: CallerSpeech, result: TranscriptResult): CallerSpeech {
  if (result.start < speech.consumedUntil) return speech;
  const text = result.text.trim();
  if (!result.isFinal) {
    if (text === speech.interim) return speech;
    return { ...speech, interim: text, interimEnd: result.end };
  }
  return { ...speech, finals: joinWords(speech.finals, text), interim: "", interimEnd: 0 };
}

/** The result adds words the utterance in progress did not have yet (the caller is still talking). */
export function bringsNewWords(speech: CallerSpeech, result: TranscriptResult): boolean {
  return result.text.trim() !== "" && hear(speech, result) !== speech;
}

/** The caller started speaking at `at` (words may come later, or never: a cough). */
export function startUtterance(speech: CallerSpeech, at: number): CallerSpeech {
  return speech.speaking ? speech : { ...withOnset(speech, at), speaking: true };
}

/** The utterance in progress began at `at`, unless an earlier start is already known. */
export function withOnset(speech: CallerSpeech, at: number): CallerSpeech {
  return speech.onset === null ? { ...speech, onset: at } : speech;
}

/**
 * The utterance in progress is over (speech ended, or its end never came in time): its finals and, failing
 * those, its interim guess become part of the caller's turn.
 */
export function endUtterance(speech: CallerSpeech): CallerSpeech {
  return {
    ...dropUtterance(speech),
    completed: joinWords(speech.completed, utteranceText(speech)),
  };
}

/** Forgets the utterance in progress (a backchannel the agent talked over). */
export function dropUtterance(speech: CallerSpeech): CallerSpeech {
  return {
    ...speech,
    finals: "",
    interim: "",
    interimEnd: 0,
    speaking: false,
    onset: null,
    consumedUntil:
      speech.interim === "" ? speech.consumedUntil : Math.max(speech.consumedUntil, speech.interimEnd),
  };
}

/**
 * A key of a DTMF keypad: 0-9, * and #, and A-D, which some keypads have. The one definition of a key press:
 * the media-stream protocol accepts exactly these (upper-casing a-d) and the call ignores anything else.
 */
export function isDtmfKey(digit: string): boolean {
  return /^[0-9*#A-D]$/.test(digit);
}

export function pressKey(speech: CallerSpeech, digit: string): CallerSpeech {
  return { ...speech, digits: [...speech.digits, `[caller pressed ${digit}]`] };
}

/** The words of the utterance in progress, finals first. */
export function utteranceText(speech: CallerSpeech): string {
  return joinWords(speech.finals, speech.interim);
}

/** The caller is speaking, or said words whose utterance has not ended. */
export function isMidUtterance(speech: CallerSpeech): boolean {
  return speech.speaking || speech.finals !== "" || speech.interim !== "";
}

/** The caller finished speaking and said something: their turn is over. */
export function hasFinishedTurn(speech: CallerSpeech): boolean {
  return speech.completed !== "" && !isMidUtterance(speech);
}

/** Everything the caller said or keyed, as one user message, and the speech state emptied for the next turn. */
export function takeTurn(speech: CallerSpeech): { text: string; rest: CallerSpeech } {
  const ended = endUtterance(speech);
  const text = [ended.completed, ...ended.digits].filter((part) => part !== "").join(" ");
  return { text, rest: { ...ended, completed: "", digits: [] } };
}

export function joinWords(...parts: string[]): string {
  return parts.filter((part) => part !== "").join(" ");
}

// --------------------------------------------------------------------------------------------------------
// Barge-in
// --------------------------------------------------------------------------------------------------------

/** Lower case, hyphens as spaces, punctuation gone: "Mm-hmm." and "mm hmm" compare equal. */
export function normalizeWords(text: string): string[] {
  return text
    .toLowerCase()
    .replace(/[-‐–—]/g, " ")
    .replace(/[^\p{L}\p{N}'\s]/gu, "")
    .split(/\s+/)
    .filter((word) => word !== "");
}

/** Prepared once per call: backchannel phrases as word lists, longest first so "uh huh" beats "uh". */
export function backchannelMatcher(phrases: readonly string[]): (words: readonly string[]) => boolean {
  const patterns = phrases
    .map(normalizeWords)
    .filter((words) => words.length > 0)
    .sort((a, b) => b.length - a.length);
  return (words) => {
    let position = 0;
    while (position < words.length) {
      const match = patterns.find((pattern) => pattern.every((word, i) => words[position + i] === word));
      if (!match) return false;
      position += match.length;
    }
    return words.length > 0;
  };
}

/**
 * While the agent speaks, the caller's utterance in progress interrupts it once it has `minWords` words and is
 * not made only of backchannels.
 */
export function passesBargeInGate(
  text: string,
  rules: { minWords: number; isBackchannel: (words: readonly string[]) => boolean },
): boolean {
  const words = normalizeWords(text);
  return words.length >= rules.minWords && !rules.isBackchannel(words);
}
