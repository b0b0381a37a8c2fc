/**
 * Whether the LLM server answers and serves the configured model, asked at start-up and then every
 * `intervalMs`, so `/health` reports what is true instead of what is configured. The question is
 * `GET /models` (cheap: no tokens generated, no model load). A change of answer is logged once, not every
 * interval, so a server that stays down does not flood the log.
 */
import type { LiveEngineState } from "./engine-status.js";
import { unrefTimeout } from "./engines/retrying-load.js";
import { messageOf } from "./error-message.js";
import type { Log } from "./logger.js";

export interface LlmReachability {
  current(): LiveEngineState;
  /** Asks now (at most one question in flight) and resolves with the answer. */
  checkNow(): Promise<LiveEngineState>;
  /** Stops asking: clears the timer and abandons a question in flight. */
  stop(): void;
}

export interface LlmReachabilityOptions {
  /** Resolves when the server serves the model; rejects with an error saying what is wrong. */
  probe: (signal: AbortSignal) => Promise<void>;
  /** Pause between the end of one question and the next. */
  intervalMs: number;
  /** Where the LLM is, for the log lines (no secrets: the base URL and model name). */
  where: string;
  /** What to check when it does not answer, appended to the problem. */
  fix: string;
  log: Log;
  now?: () => Date;
}

export function watchLlm(options: LlmReachabilityOptions): LlmReachability {
  const now = options.now ?? (() => new Date());
  let current: LiveEngineState = { state: "checking" };
  let inFlight: Promise<LiveEngineState> | undefined;
  let cancel: (() => void) | undefined;
  let stopped = false;
  const controller = new AbortController();

  const report = (next: LiveEngineState) => {
    const changed =
      next.state !== current.state ||
      (next.state === "unavailable" && current.state === "unavailable" && next.problem !== current.problem);
    current = next;
    if (!changed) return;
    if (next.state === "ready") options.log.info({ engine: "llm" }, `llm: ${options.where} answers`);
    else if (next.state === "unavailable")
      options.log.warn({ engine: "llm" }, `llm: ${next.problem}. Until it answers, callers hear the apology`);
  };

  const schedule = () => {
    if (stopped) return;
    cancel = unrefTimeout(() => void checkNow(), options.intervalMs);
  };

  const checkNow = (): Promise<LiveEngineState> => {
    if (inFlight) return inFlight;
    cancel?.();
    inFlight = options
      .probe(controller.signal)
      .then(
        (): LiveEngineState => ({ state: "ready", checkedAt: now().toISOString() }),
        (error: unknown): LiveEngineState => ({
          state: "unavailable",
          problem: `${messageOf(error)}: ${options.fix}`,
          checkedAt: now().toISOString(),
        }),
      )
      .then((next) => {
        inFlight = undefined;
        if (!stopped) report(next);
        schedule();
        return current;
      });
    return inFlight;
  };

  return {
    current: () => current,
    checkNow,
    stop: () => {
      stopped = true;
      cancel?.();
      controller.abort();
    },
  };
}
