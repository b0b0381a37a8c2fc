/**
 * The committed conversation: what the caller said and what the marks prove they heard of the agent, the only
 * things the next LLM request may treat as said.
 */
import type { CallContext } from "./call-types.js";
import { emptyLedger, heardText } from "./playback-ledger.js";

/**
 * The utterance is over: the caller's words and what the marks prove they heard join the history. When
 * nothing was heard, the caller's words stay pending and merge with whatever they say next.
 */
export function commitHeard(context: CallContext, interrupted: boolean): Partial<CallContext> {
  const heard = heardText(context.playback);
  if (heard === "") return { playback: emptyLedger };
  const history = [...context.history];
  if (context.answering !== "") history.push({ role: "user", content: context.answering });
  history.push(
    interrupted
      ? { role: "assistant", content: heard, interrupted: true }
      : { role: "assistant", content: heard },
  );
  return { history, answering: "", playback: emptyLedger };
}
