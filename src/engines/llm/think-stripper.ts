/**
 * Removes `<think>…</think>` reasoning from streamed model text, so it is never spoken.
 *
 * Qwen3 (and other reasoning models served without a reasoning parser) write their thoughts inline in
 * `content`, and a tag can be split across stream chunks at any character ("<th" + "ink>"). The stripper
 * holds back only the few characters that could still turn out to be a tag, so speech is not delayed.
 * The whitespace a model puts after `</think>` is dropped too: it would only become a leading pause.
 * A stray `</think>` with no opening tag (templates that open the block in the prompt) is removed as well;
 * the text before it has already gone out, which is why thinking is switched off on the request by default.
 */

const OPEN_TAG = "<think>";
const CLOSE_TAG = "</think>";

export interface ThinkStripper {
  /** Returns the speakable part of `text` that is certain not to belong to a tag or a thought. */
  push(text: string): string;
  /** End of stream: returns held-back text that turned out not to be a tag (an open thought is dropped). */
  flush(): string;
}

export function createThinkStripper(): ThinkStripper {
  let insideThought = false;
  let held = "";
  let dropLeadingWhitespace = false;

  const emit = (text: string): string => {
    if (!dropLeadingWhitespace) return text;
    const trimmed = text.trimStart();
    if (trimmed.length > 0) dropLeadingWhitespace = false;
    return trimmed;
  };

  return {
    push(text) {
      let rest = held + text;
      held = "";
      let out = "";
      while (rest.length > 0) {
        if (insideThought) {
          const close = rest.indexOf(CLOSE_TAG);
          if (close < 0) {
            held = partialTagSuffix(rest, [CLOSE_TAG]);
            break;
          }
          rest = rest.slice(close + CLOSE_TAG.length);
          insideThought = false;
          dropLeadingWhitespace = true;
          continue;
        }
        const open = rest.indexOf(OPEN_TAG);
        const strayClose = rest.indexOf(CLOSE_TAG);
        if (open < 0 && strayClose < 0) {
          held = partialTagSuffix(rest, [OPEN_TAG, CLOSE_TAG]);
          out += emit(rest.slice(0, rest.length - held.length));
          break;
        }
        if (strayClose >= 0 && (open < 0 || strayClose < open)) {
          out += emit(rest.slice(0, strayClose));
          rest = rest.slice(strayClose + CLOSE_TAG.length);
          dropLeadingWhitespace = true;
          continue;
        }
        out += emit(rest.slice(0, open));
        rest = rest.slice(open + OPEN_TAG.length);
        insideThought = true;
      }
      return out;
    },
    flush() {
      const rest = insideThought ? "" : emit(held);
      held = "";
      insideThought = false;
      dropLeadingWhitespace = false;
      return rest;
    },
  };
}

/** The longest end of `text` that is the start of one of `tags` (and so may complete in the next chunk). */
function partialTagSuffix(text: string, tags: readonly string[]): string {
  const longest = Math.max(...tags.map((tag) => tag.length - 1));
  for (let length = Math.min(longest, text.length); length > 0; length--) {
    const suffix = text.slice(text.length - length);
    if (tags.some((tag) => tag.startsWith(suffix))) return suffix;
  }
  return "";
}
