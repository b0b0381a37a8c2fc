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
  /**
   * What a call uses: the attempt, except while a download is in progress (minutes, where a load takes
   * seconds), which no call can wait for: then a rejection at once saying what is being downloaded.
   */
  forCall(): Promise<T>;
  /** Resolves with the first value that loaded; never rejects. */
  readonly loaded: Promise<T>;
  current(): LiveEngineState;
  /** No more attempts (shutdown). */
  stop(): void;
}

export interface RetryingLoadOptions<T> {
  /** One attempt; `downloading` reports what it fetches (shown as the state's `activity`) while it does. */
  load: (downloading: (activity: string) => void) => Promise<T>;
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

  let activity: string | undefined;
  const start = (): Promise<T> => {
    let settled = false;
    activity = undefined;
    const attempt = options.load((what) => {
      if (settled) return;
      activity = what;
      state = { state: "checking", activity: what };
    });
    attempt.then(
      (value) => {
        settled = true;
        activity = undefined;
        state = { state: "ready", checkedAt: now().toISOString() };
        resolveLoaded(value);
      },
      (error: unknown) => {
        settled = true;
        activity = undefined;
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
    forCall: () => (activity === undefined ? current : Promise.reject(new ModelDownloadingError(activity))),
    loaded,
    current: () => state,
    stop: () => {
      stopped = true;
      cancel?.();
    },
  };
}

/** A call refused because its engine's model is still being downloaded. */
export class ModelDownloadingError extends Error {
  override name = "ModelDownloadingError";
  constructor(readonly activity: string) {
    super(`not ready yet: ${activity}`);
  }
}

/** `setTimeout` that never keeps the process alive, returning its cancel: retries and health checks use it. */
export function unrefTimeout(run: () => void, ms: number): () => void {
  const timer = setTimeout(run, ms);
  timer.unref();
  return () => clearTimeout(timer);
}
