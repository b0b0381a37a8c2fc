/**
 * The simulated caller's sense of time. Everything it measures (latencies, when a mark may be echoed, when to
 * speak next) is read from `now()`, and its 20 ms frames are paced by `sleepUntil`, so a test can run a call
 * faster than real time and still see the same frame-by-frame behaviour.
 */

export interface CallerClock {
  /** Milliseconds on the call's time line (any origin, never going backwards). */
  now(): number;
  /**
   * Resolves once `now()` has reached `at`, or early when `signal` aborts. Always yields to pending I/O first,
   * even when `at` is already past, so a caller catching up on late frames still reads the socket.
   */
  sleepUntil(at: number, signal?: AbortSignal): Promise<void>;
}

/**
 * The wall clock, optionally sped up: with `speed: 10` one second of call time passes in 100 ms. Sleeping
 * until an absolute time (not for a duration) keeps the frame pace drift-free: a late wake-up shortens the
 * next wait instead of shifting every later frame.
 */
export function realTimeClock(options: { speed?: number } = {}): CallerClock {
  const speed = options.speed ?? 1;
  if (!(speed > 0) || !Number.isFinite(speed)) {
    throw new RangeError(`clock speed must be a positive number, got ${speed}`);
  }
  const origin = performance.now();
  const now = () => (performance.now() - origin) * speed;
  return {
    now,
    sleepUntil(at, signal) {
      return new Promise<void>((resolve) => {
        let timer: NodeJS.Timeout | undefined;
        let immediate: NodeJS.Immediate | undefined;
        const done = () => {
          signal?.removeEventListener("abort", done);
          clearTimeout(timer);
          clearImmediate(immediate);
          resolve();
        };
        // Timers run on a millisecond loop clock and may fire a fraction early: check and wait again.
        const check = () => {
          const waitMs = (at - now()) / speed;
          if (signal?.aborted || waitMs <= 0) return done();
          timer = setTimeout(check, waitMs);
        };
        signal?.addEventListener("abort", done, { once: true });
        immediate = setImmediate(check);
      });
    },
  };
}

/**
 * Virtual time for tests: it stands still until the caller sleeps, then jumps to the wake-up time as soon as
 * pending I/O has been handled. A call runs as fast as the server answers, every time the caller reports is
 * a whole number of frames, and how many frames pass between two events depends only on the messages, never
 * on the machine's speed. The server sees a caller whose line runs much faster than real time.
 */
export function fastForwardClock(): CallerClock {
  let time = 0;
  return {
    now: () => time,
    sleepUntil(at) {
      // setImmediate runs after the poll phase: socket messages that arrived meanwhile are handled first.
      return new Promise<void>((resolve) =>
        setImmediate(() => {
          time = Math.max(time, at);
          resolve();
        }),
      );
    },
  };
}
