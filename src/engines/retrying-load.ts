/**
 * Loading an in-process model (Kokoro's weights from Hugging Face, a Piper voice) can fail for reasons that
 * go away: no network yet at boot, a mirror down, files being copied in. The server keeps serving (calls are
 * answered, the health route says why they cannot be spoken to) and tries again with exponential back-off,
 * so fixing the cause needs no restart and a permanent failure does not hammer the network.
 */
import type { LiveEngineState } from "../engine-status.js";

/** 1 s, 2 s, 4 s, ... capped at 5 minutes: the wait before attempt `failures + 1`. */
export function retryDelayMs(failures: number, policy = { firstMs: 1000, maxMs: 300_000 }): number {
  return Math.min(policy.maxMs, policy.firstMs * 2 ** Math.max(0, failures - 1));
}

export interface RetryingLoad<T> {
  /** The attempt in progress or the last one: settles (either way) when that attempt does. */
  attempt(): Promise<T>;
  /** Resolves with the first value that loaded; never rejects. */
  readonly loaded: Promise<T>;
  current(): LiveEngineState;
  /** No more attempts (shutdown). */
  stop(): void;
}

export interface RetryingLoadOptions<T> {
  load: () => Promise<T>;
  /** Called for every failure, with the wait before the next attempt: the owner logs it with its fix. */
  describeFailure: (error: unknown, retryInMs: number) => string;
  /** Replaceable in tests (the default is `setTimeout`, unref'd so a retry never keeps the process alive). */
  schedule?: (run: () => void, ms: number) => () => void;
  now?: () => Date;
}

export function loadWithRetry<T>(options: RetryingLoadOptions<T>): RetryingLoad<T> {
  const schedule = options.schedule ?? unrefTimeout;
  const now = options.now ?? (() => new Date());
  let state: LiveEngineState = { state: "checking" };
  let failures = 0;
  let cancel: (() => void) | undefined;
  let stopped = false;
  let resolveLoaded: (value: T) => void = () => undefined;
  const loaded = new Promise<T>((resolve) => {
    resolveLoaded = resolve;
  });

  const start = (): Promise<T> => {
    const attempt = options.load();
    attempt.then(
      (value) => {
        state = { state: "ready", checkedAt: now().toISOString() };
        resolveLoaded(value);
      },
      (error: unknown) => {
        failures += 1;
        const wait = retryDelayMs(failures);
        state = {
          state: "unavailable",
          problem: options.describeFailure(error, wait),
          checkedAt: now().toISOString(),
        };
        if (!stopped) cancel = schedule(() => (current = start()), wait);
      },
    );
    return attempt;
  };
  let current = start();

  return {
    attempt: () => current,
    loaded,
    current: () => state,
    stop: () => {
      stopped = true;
      cancel?.();
    },
  };
}

/** `setTimeout` that never keeps the process alive, returning its cancel: retries and health checks use it. */
export function unrefTimeout(run: () => void, ms: number): () => void {
  const timer = setTimeout(run, ms);
  timer.unref();
  return () => clearTimeout(timer);
}
