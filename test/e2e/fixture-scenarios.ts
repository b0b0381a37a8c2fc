/**
 * The calls behind fixtures/tapes: each is the receptionist scenario played by the simulated caller against
 * the real server and fake engines (`npm run tapes:record` records them), with the behaviour its tape exists
 * to pin down, checked on the tape itself so a re-recording that lost the point is refused.
 */

import { isInput, isOutput, type Tape, type TapeEntry } from "../../src/tapes/tape-format.js";
import type { CallEvent, SimulateCallOptions } from "../../tools/caller/index.js";
import { endsCall, said, serverError } from "./scripted-replies.js";
import type { VoiceStackOptions } from "./voice-stack.js";

export interface FixtureScenario {
  /** The tape's file name, without `.jsonl`. */
  name: string;
  description: string;
  stack: VoiceStackOptions;
  /** Caller lines, file names in fixtures/audio. */
  audio: readonly string[];
  caller?: Partial<SimulateCallOptions>;
  /** Hang up this long (caller clock) after the agent's answer to the last utterance starts to play. */
  hangUpIntoReplyMs?: number;
  /** What the tape must show; each string is a problem. */
  check(tape: Tape): string[];
}

const BREAKER = "Hi, I have a breaker that keeps tripping.";
const KITCHEN = "Sorry, it's actually the kitchen breaker.";
/** A long answer whose third sentence the fake TTS never finishes: whoever cuts it in, cuts a live request. */
const LONG_ANSWER =
  "I'm sorry to hear that. A breaker that keeps tripping usually means the circuit is overloaded. " +
  "Try unplugging a few things before you switch it back on. If it trips again, we can send an electrician.";
const HELD_SENTENCE = "Try unplugging";
/** The long answer streams at a speaking pace, so it is still streaming when the caller cuts in. */
const slowly = { timeToFirstTokenMs: 200, tokenIntervalMs: 60 };

const HOSTED_SCENARIOS: readonly FixtureScenario[] = [
  {
    name: "three-turn-conversation",
    description: "greeting, then three caller turns each answered in full; the caller hangs up",
    stack: {
      transcripts: [BREAKER, "Yes.", "Can someone come out tomorrow morning?"],
      replies: [
        said("I'm sorry to hear that. Would you like an electrician to take a look?"),
        said("Sure. When would suit you?"),
        said("Tomorrow morning works. An electrician will call to confirm the time."),
      ],
    },
    audio: ["breaker-keeps-tripping.wav", "yes-speechcommands.wav", "tomorrow-morning.wav"],
    check: (tape) => [
      ...expectCount(tape, "llm.request", 3),
      ...expectCount(tape, "emit replyAudioStarted", 3),
      ...expectNone(tape, "clear"),
      ...expectCount(tape, "twilio.stop", 1),
    ],
  },
  {
    name: "barge-in",
    description:
      "the caller talks over a long answer: clear, the LLM and TTS requests aborted, only the heard part kept",
    stack: {
      transcripts: [BREAKER, KITCHEN],
      replies: [
        { reply: said(LONG_ANSWER), timing: slowly },
        said("The kitchen, I see. Kitchen circuits often trip when the kettle and toaster run at once."),
      ],
      holdSpeech: (text) => text.startsWith(HELD_SENTENCE),
    },
    audio: ["breaker-keeps-tripping.wav", "kitchen-breaker.wav"],
    caller: { bargeInAfterMs: 800 },
    check: (tape) => [
      ...expectCount(tape, "emit bargeIn", 1),
      ...expectCount(tape, "clear", 1),
      ...expectCount(tape, "llm.abort", 1),
      ...expectCount(tape, "tts.abort", 1),
      ...expectInterruptedHistory(tape),
    ],
  },
  {
    name: "caller-hangs-up-mid-reply",
    description: "the caller hangs up while the answer is playing and still streaming",
    stack: {
      transcripts: [BREAKER],
      replies: [{ reply: said(LONG_ANSWER), timing: slowly }],
      holdSpeech: (text) => text.startsWith(HELD_SENTENCE),
    },
    audio: ["breaker-keeps-tripping.wav"],
    hangUpIntoReplyMs: 1500,
    check: (tape) => [
      ...expectCount(tape, "llm.abort", 1),
      ...expectCount(tape, "tts.abort", 1),
      ...expectCount(tape, "stt.close", 1),
      ...expectCount(tape, "emit callEnded", 1),
      ...expectNone(tape, "hangUp"),
    ],
  },
  {
    name: "idle-reprompt-then-hang-up",
    description: "the caller never speaks: one reprompt, then the goodbye and a REST hang-up",
    stack: { call: { idleRepromptMs: 2500, maxReprompts: 1 } },
    audio: [],
    // Stay on the line, silent, until the agent hangs up.
    caller: { pauseAfterReplyMs: 60_000 },
    check: (tape) => [
      ...expectCount(tape, "timer idleReprompt", 2),
      ...expectCount(tape, "state active.reprompting", 1),
      ...expectCount(tape, "state hangingUp.sayingGoodbye", 1),
      ...expectCount(tape, "hangUp", 1),
      ...expectCount(tape, "emit callEnded", 1),
    ],
  },
  {
    name: "end-call-tool",
    description: "the caller has nothing more; the LLM calls end_call; goodbye, then a REST hang-up",
    stack: {
      transcripts: [BREAKER, "No."],
      replies: [said("I can send an electrician tomorrow morning. Is there anything else?"), endsCall],
    },
    audio: ["breaker-keeps-tripping.wav", "no-speechcommands.wav"],
    // Long enough after the goodbye for the agent to hang up first.
    caller: { pauseAfterReplyMs: 3000 },
    check: (tape) => [
      ...expectCount(tape, "llm.toolCall", 1),
      ...expectCount(tape, "state hangingUp.sayingGoodbye", 1),
      ...expectCount(tape, "hangUp", 1),
      ...expectCount(tape, "rest.done", 1),
    ],
  },
  {
    name: "llm-error-recovered",
    description:
      "the LLM fails the first turn: the agent apologizes, the caller repeats, the next turn works",
    stack: {
      transcripts: [BREAKER, "I said, my breaker keeps tripping."],
      replies: [serverError, said("Sorry about that. Would you like an electrician to take a look?")],
    },
    audio: ["breaker-keeps-tripping.wav", "my-breaker-keeps-tripping.wav"],
    check: (tape) => [
      ...expectCount(tape, "llm.error", 1),
      ...expectCount(tape, "state active.apologizing", 1),
      ...expectCount(tape, "llm.request", 2),
      ...expectCount(tape, "emit replyAudioStarted", 1),
    ],
  },
];

/**
 * The same calls through the self-hosted profile (Whisper behind Silero VAD, the LLM as Ollama, Piper): what
 * the tape must show does not change with the engines.
 */
const SELF_HOSTED: readonly { of: string; description: string }[] = [
  {
    of: "three-turn-conversation",
    description: "the self-hosted profile: greeting, three turns answered in full",
  },
  {
    of: "barge-in",
    description:
      "the self-hosted profile: the caller talks over a long answer; VAD speech lasting bargeInSpeechMs cuts the agent off before Whisper has a word",
  },
];

export const FIXTURE_SCENARIOS: readonly FixtureScenario[] = [
  ...HOSTED_SCENARIOS,
  ...SELF_HOSTED.map(({ of, description }) => {
    const hosted = HOSTED_SCENARIOS.find((scenario) => scenario.name === of);
    if (!hosted) throw new Error(`no hosted scenario ${of}`);
    return {
      ...hosted,
      name: `self-hosted-${of}`,
      description,
      stack: { ...hosted.stack, profile: "self-hosted" as const },
    };
  }),
];

/** Whether `entry` is of a kind named like `"clear"`, `"emit bargeIn"`, `"timer idleReprompt"`, `"state x"`. */
function matches(entry: TapeEntry, what: string): boolean {
  const [kind, detail] = what.split(" ", 2);
  if (isInput(entry)) return entry.in === kind;
  if (!isOutput(entry) || entry.out !== kind) return false;
  if (detail === undefined) return true;
  if (entry.out === "emit") return entry.event.type === detail;
  if (entry.out === "timer") return entry.event.includes(`.${detail}.`);
  if (entry.out === "state") return entry.value === detail;
  return false;
}

function expectCount(tape: Tape, what: string, count: number): string[] {
  const found = tape.entries.filter((entry) => matches(entry, what)).length;
  return found === count ? [] : [`expected ${count} × ${what}, found ${found}`];
}

function expectNone(tape: Tape, what: string): string[] {
  return expectCount(tape, what, 0);
}

/** After the barge-in, the next LLM request holds the heard part of the answer, flagged as interrupted. */
function expectInterruptedHistory(tape: Tape): string[] {
  const requests = tape.entries.filter((entry) => isOutput(entry) && entry.out === "llm.request");
  const next = requests[1];
  if (!next || !isOutput(next) || next.out !== "llm.request") return ["expected a second LLM request"];
  const cut = next.messages.find((message) => message.role === "assistant" && message.interrupted);
  if (!cut || !("content" in cut)) return ["expected an interrupted assistant message in the next request"];
  if (cut.content === "" || LONG_ANSWER.startsWith(cut.content) === false || cut.content === LONG_ANSWER) {
    return [`expected the heard part of the answer only, got ${JSON.stringify(cut.content)}`];
  }
  return [];
}

/** The simulated caller's abort signal for a scenario that hangs up into the reply. */
export function hangUpIntoReply(
  scenario: FixtureScenario,
  speed: number,
): { signal: AbortSignal; onEvent: (event: CallEvent) => void } | undefined {
  const delayMs = scenario.hangUpIntoReplyMs;
  if (delayMs === undefined) return undefined;
  const controller = new AbortController();
  const lastUtterance = scenario.audio.length - 1;
  let spoken = false;
  return {
    signal: controller.signal,
    onEvent: (event) => {
      if (event.type === "utterance-ended" && event.utterance === lastUtterance) spoken = true;
      if (event.type === "agent-audio-started" && spoken) {
        spoken = false;
        setTimeout(() => controller.abort(), delayMs / speed);
      }
    },
  };
}
