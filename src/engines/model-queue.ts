/**
 * One in-process model (Kokoro, a Piper voice, the embedded LLM) serves every call, and one run already uses
 * the cores it was given, so running more at once only makes every one late. The queue runs `maxRunning`
 * tasks at a time (1 for a voice; the LLM context's sequence count), keeps at most `maxWaiting` more in line,
 * and refuses beyond that: a caller gets a clear error (and the call actor its apology) instead of a reply
 * that arrives seconds too late.
 */
import { EngineError, type EngineName } from "../../machines/engines.js";

export interface ModelQueueOptions {
  /** Whose queue it is, for the errors: the engine and what waits, e.g. "Piper synthesis". */
  engine: EngineName;
  label: string;
  /** Tasks running at once. */
  maxRunning: number;
  /** Tasks allowed to wait for a slot; one more is refused at once. */
  maxWaiting: number;
}

interface Waiter {
  start(): void;
}

export class ModelQueue {
  private readonly options: ModelQueueOptions;
  private readonly waiters: Waiter[] = [];
  private active = 0;

  constructor(options: ModelQueueOptions) {
    for (const name of ["maxRunning", "maxWaiting"] as const) {
      const value = options[name];
      if (!Number.isInteger(value) || value < 0) {
        throw new RangeError(
          `${options.label} queue option ${name} must be a non-negative integer, got ${value}`,
        );
      }
    }
    if (options.maxRunning < 1) {
      throw new RangeError(`${options.label} queue option maxRunning must be at least 1`);
    }
    this.options = { ...options };
  }

  /** Tasks running now (an aborted task counts until its work really ends). */
  get running(): number {
    return this.active;
  }

  /** Tasks waiting for a slot. */
  get waiting(): number {
    return this.waiters.length;
  }

  /**
   * Runs `task` once a slot is free. Aborting `signal` while waiting takes the task out of the line; aborting
   * while it runs settles the returned promise at once with an "aborted" error, but the slot stays taken until
   * the task's own promise settles, because a model run cannot be interrupted and would compete for the CPU
   * with the next one.
   */
  run<T>(task: () => Promise<T>, signal: AbortSignal): Promise<T> {
    if (signal.aborted) return Promise.reject(this.abortedError());
    if (this.active < this.options.maxRunning) return this.start(task, signal);
    if (this.waiters.length >= this.options.maxWaiting) {
      return Promise.reject(
        new EngineError(
          this.options.engine,
          "unknown",
          `${this.options.label} queue is full: ${this.active} running and ${this.waiters.length} waiting ` +
            `(maxWaiting ${this.options.maxWaiting}); too many calls at once for one in-process model`,
        ),
      );
    }
    return new Promise<T>((resolve, reject) => {
      const waiter: Waiter = {
        start: () => {
          signal.removeEventListener("abort", leaveLine);
          this.start(task, signal).then(resolve, reject);
        },
      };
      const leaveLine = () => {
        const index = this.waiters.indexOf(waiter);
        if (index >= 0) this.waiters.splice(index, 1);
        reject(this.abortedError());
      };
      signal.addEventListener("abort", leaveLine, { once: true });
      this.waiters.push(waiter);
    });
  }

  private start<T>(task: () => Promise<T>, signal: AbortSignal): Promise<T> {
    this.active++;
    // Called through an async wrapper so a task that throws synchronously still releases its slot.
    const work = (async () => task())();
    const release = () => {
      this.active--;
      this.waiters.shift()?.start();
    };
    work.then(release, release);
    return settleEarlyOnAbort(work, signal, () => this.abortedError());
  }

  private abortedError(): EngineError {
    return new EngineError(this.options.engine, "aborted", `${this.options.label} aborted`);
  }
}

function settleEarlyOnAbort<T>(
  work: Promise<T>,
  signal: AbortSignal,
  aborted: () => EngineError,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(aborted());
    signal.addEventListener("abort", onAbort, { once: true });
    work.then(
      (value) => {
        signal.removeEventListener("abort", onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener("abort", onAbort);
        reject(error);
      },
    );
  });
}
