/**
 * The committed conversation: what the caller said and what they heard of the agent, the only things the next
 * LLM request may treat as said.
 */
import type { CallContext } from "./call-types.js";
import type { HeardSpeech } from "./heard-speech.js";
import { emptyLedger, heardText } from "./playback-ledger.js";

/**
 * The utterance played to its end: the caller's words and everything the marks prove they heard join the
 * history. When nothing was heard, the caller's words stay pending and merge with whatever they say next.
 */
export function commitPlayed(context: CallContext): Partial<CallContext> {
  return commit(context, heardText(context.playback), false);
}

/**
 * The caller cut the utterance: their words, then the agent's words they heard before they started talking,
 * flagged as interrupted (the LLM adapters add a note the model reads, `withInterruptedNote`). The caller's
 * next words will be a turn of their own. Only a cut before any audio had played leaves no assistant turn,
 * and the caller's words then merge with what they say next: for them, the agent had not spoken yet.
 */
export function commitCut(context: CallContext, cut: HeardSpeech): Partial<CallContext> {
  if (!cut.startedPlaying && cut.text === "") return { playback: emptyLedger };
  return commit(context, cut.text, true);
}

function commit(context: CallContext, heard: string, interrupted: boolean): Partial<CallContext> {
  if (heard === "" && !interrupted) return { playback: emptyLedger };
  const history = [...context.history];
  if (context.answering !== "") history.push({ role: "user", content: context.answering });
  history.push(
    interrupted
      ? { role: "assistant", content: heard, interrupted: true }
      : { role: "assistant", content: heard },
  );
  return { history, answering: "", playback: emptyLedger };
}
