/**
 * Everything that shapes how a call behaves: the persona, the fixed phrases and every turn-taking rule, each
 * a named number with a default. The call actor reads nothing else, so a tape header that stores this object
 * is enough to replay a call's decisions.
 */

export interface CallPhrases {
  /** Spoken as soon as Twilio's `start` arrives (its audio is prepared before the call). */
  greeting: string;
  /** Spoken when the caller stays silent for `idleRepromptMs` after the agent finished. */
  reprompt: string;
  /** Spoken before the agent ends the call (tool, idle, maximum duration). */
  goodbye: string;
  /** Spoken instead of dead air when the LLM or TTS fails or times out. */
  apology: string;
  /** Spoken before the call is handed to `transferNumber`. */
  transfer: string;
}

export interface CallConfig {
  /** The agent's persona and instructions: the first message of every LLM request. */
  systemPrompt: string;
  phrases: CallPhrases;
  /**
   * Where the `transfer_call` tool dials (E.164 number or `sip:` URI). `null`: the tool is not offered to the
   * LLM and a hallucinated call to it is ignored.
   */
  transferNumber: string | null;

  // Turn-taking: when the caller's turn ends ---------------------------------------------------------------
  /**
   * The caller's turn ends when the recogniser says their speech ended and words are in. Should that end never
   * come, this long without any STT event while the caller speaks closes the utterance anyway (and asks the
   * recogniser to finalize), so a lost end of speech never leaves the caller waiting. Longer than the hard
   * cut of a VAD segment (30 s), since a batch recogniser may bring a long utterance's words only at its end.
   */
  speechEndTimeoutMs: number;
  /** Keypad digits collect into one turn until no new digit arrives for this long. */
  dtmfEndOfTurnMs: number;

  // Turn-taking: barge-in while the agent speaks ------------------------------------------------------------
  /** The caller interrupts the agent only once their current utterance has this many words. */
  bargeInMinWords: number;
  /**
   * With a recogniser whose speech detection rejects noise (Silero VAD: `SttEngine.speechStartIsReliable`),
   * speech that lasts this long under the agent's voice interrupts it before its words are recognised, unless
   * the words so far are only backchannels. A cough is shorter. null: only words interrupt (Deepgram, whose
   * SpeechStarted also fires on noise while its words come within a few hundred ms); `forRecogniser` sets it
   * for a recogniser whose speech start is not reliable. 600 ms: LiveKit Agents interrupts after 500 ms of
   * VAD speech; ours counts from the VAD's confirmed start, itself 250 ms of speech in.
   */
  bargeInSpeechMs: number | null;
  /**
   * Words and phrases that alone never interrupt the agent ("mm-hmm", "yeah"). Matched on whole words,
   * case, punctuation and hyphens ignored; an utterance made only of these is a backchannel.
   */
  backchannels: readonly string[];
  /**
   * Speech that cut the agent before any word was recognised, and then brings no word (or only backchannels)
   * by its end or within this long, was a cough, a door or someone in the room: the agent resumes from the
   * start of the clause the caller cut into. null: never resume (the agent waits for the caller instead).
   * 2000 ms, as LiveKit Agents' `false_interruption_timeout`: a VAD-segmented Whisper brings a short
   * utterance's words within about a second of its end. Only speech without words can cut the agent when
   * `bargeInSpeechMs` is set, so with Deepgram (null) this never applies.
   */
  falseInterruptionTimeoutMs: number | null;

  // Silence and limits --------------------------------------------------------------------------------------
  /** Caller silence after the agent finished before the agent reprompts. */
  idleRepromptMs: number;
  /** Reprompts in a row without an answer before the agent says goodbye and hangs up. */
  maxReprompts: number;
  /** The agent says goodbye and hangs up once the call has lasted this long. */
  maxCallDurationMs: number;
  /** No first chunk from the LLM within this long: the agent apologizes instead. */
  llmFirstTokenTimeoutMs: number;
  /** The TTS engine, once asked to speak a segment, must yield audio at least this often. */
  ttsTimeoutMs: number;
  /**
   * Once the LLM has started answering, the longest the caller hears silence before the agent apologizes:
   * from the first token to the first audio, and whenever everything sent has played but the reply is not
   * over (an LLM stream that stalls mid-answer). Longer than `ttsTimeoutMs`, so a stuck TTS is named as such.
   */
  replySilenceTimeoutMs: number;
  /**
   * How long to wait for Twilio to echo the mark after the goodbye or transfer message, beyond the audio still
   * queued when the farewell starts, before the REST call is made anyway (a lost echo must not keep a finished
   * call open).
   */
  farewellMarkTimeoutMs: number;
}

export const defaultCallConfig: CallConfig = {
  systemPrompt:
    "You are a friendly receptionist answering the phone. Keep every answer short: one or two sentences, " +
    "plain words, no lists. When the caller says goodbye or has nothing more, call the end_call tool.",
  phrases: {
    greeting: "Thanks for calling! How can I help you today?",
    reprompt: "Are you still there?",
    goodbye: "Thank you for calling. Goodbye!",
    apology: "Sorry, I had a problem there. Could you say that again?",
    transfer: "Please hold while I transfer your call.",
  },
  transferNumber: null,
  speechEndTimeoutMs: 35_000,
  dtmfEndOfTurnMs: 1500,
  bargeInMinWords: 2,
  bargeInSpeechMs: 600,
  backchannels: [
    "mm-hmm",
    "mhm",
    "mm",
    "hmm",
    "uh-huh",
    "uh huh",
    "yeah",
    "yep",
    "yes",
    "ok",
    "okay",
    "right",
    "sure",
    "alright",
    "all right",
    "i see",
    "got it",
    "oh",
    "ah",
    "uh",
    "um",
  ],
  falseInterruptionTimeoutMs: 2000,
  idleRepromptMs: 8000,
  maxReprompts: 2,
  maxCallDurationMs: 15 * 60 * 1000,
  llmFirstTokenTimeoutMs: 5000,
  ttsTimeoutMs: 5000,
  replySilenceTimeoutMs: 8000,
  farewellMarkTimeoutMs: 10_000,
};

/** `defaultCallConfig` with some settings replaced (phrases merge one by one). */
export function callConfig(
  overrides: Partial<Omit<CallConfig, "phrases">> & { phrases?: Partial<CallPhrases> } = {},
) {
  const { phrases, ...rest } = overrides;
  const config: CallConfig = {
    ...defaultCallConfig,
    ...rest,
    phrases: { ...defaultCallConfig.phrases, ...phrases },
  };
  return validateCallConfig(config);
}

/** The settings for calls heard by `stt`: speech alone interrupts the agent only if `stt` tells speech from noise. */
export function forRecogniser(config: CallConfig, stt: { speechStartIsReliable: boolean }): CallConfig {
  return stt.speechStartIsReliable || config.bargeInSpeechMs === null
    ? config
    : { ...config, bargeInSpeechMs: null };
}

/** Throws a readable error for settings that would make the statechart misbehave (negative timers, ...). */
export function validateCallConfig(config: CallConfig): CallConfig {
  const problems: string[] = [];
  const durations = [
    "speechEndTimeoutMs",
    "dtmfEndOfTurnMs",
    "idleRepromptMs",
    "maxCallDurationMs",
    "llmFirstTokenTimeoutMs",
    "ttsTimeoutMs",
    "replySilenceTimeoutMs",
    "farewellMarkTimeoutMs",
  ] as const;
  for (const name of durations) {
    const value = config[name];
    if (!Number.isFinite(value) || value <= 0)
      problems.push(`${name} must be a positive number of milliseconds (got ${value})`);
  }
  if (!Number.isInteger(config.bargeInMinWords) || config.bargeInMinWords < 1) {
    problems.push(`bargeInMinWords must be a whole number of at least 1 (got ${config.bargeInMinWords})`);
  }
  if (
    config.bargeInSpeechMs !== null &&
    !(Number.isFinite(config.bargeInSpeechMs) && config.bargeInSpeechMs > 0)
  ) {
    problems.push(
      `bargeInSpeechMs must be null or a positive number of milliseconds (got ${config.bargeInSpeechMs})`,
    );
  }
  if (
    config.falseInterruptionTimeoutMs !== null &&
    !(Number.isFinite(config.falseInterruptionTimeoutMs) && config.falseInterruptionTimeoutMs > 0)
  ) {
    problems.push(
      `falseInterruptionTimeoutMs must be null or a positive number of milliseconds (got ${config.falseInterruptionTimeoutMs})`,
    );
  }
  if (!Number.isInteger(config.maxReprompts) || config.maxReprompts < 0) {
    problems.push(`maxReprompts must be a whole number of at least 0 (got ${config.maxReprompts})`);
  }
  for (const [name, text] of Object.entries(config.phrases)) {
    if (typeof text !== "string" || text.trim() === "") problems.push(`phrases.${name} must not be empty`);
  }
  if (config.transferNumber !== null && config.transferNumber.trim() === "") {
    problems.push("transferNumber must be null (no transfer) or a number");
  }
  if (problems.length > 0) throw new Error(`Invalid call configuration:\n  - ${problems.join("\n  - ")}`);
  return config;
}
