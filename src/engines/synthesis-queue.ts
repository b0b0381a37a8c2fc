/**
 * One in-process model (Kokoro, a Piper voice) serves every call, and a synthesis already uses both cores of
 * the box, so running two at once only makes both late. The queue runs `maxRunning` tasks at a time, keeps at most
 * `maxWaiting` more in line, and refuses beyond that: a caller gets a clear error (and the call actor its
 * apology) instead of a reply that arrives seconds too late.
 */
import { EngineError } from "../../machines/engines.js";
import { ttsAbortedError } from "./tts-audio.js";

export interface SynthesisQueueOptions {
  /** Tasks running at once. */
  maxRunning: number;
  /** Tasks allowed to wait for a slot; one more is refused at once. */
  maxWaiting: number;
}

interface Waiter {
  start(): void;
}

export class SynthesisQueue {
  private readonly options: SynthesisQueueOptions;
  private readonly waiters: Waiter[] = [];
  private active = 0;

  constructor(options: SynthesisQueueOptions) {
    for (const [name, value] of Object.entries(options)) {
      if (!Number.isInteger(value) || value < 0) {
        throw new RangeError(`synthesis queue option ${name} must be a non-negative integer, got ${value}`);
      }
    }
    if (options.maxRunning < 1) throw new RangeError("synthesis queue option maxRunning must be at least 1");
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
    if (signal.aborted) return Promise.reject(ttsAbortedError());
    if (this.active < this.options.maxRunning) return this.start(task, signal);
    if (this.waiters.length >= this.options.maxWaiting) {
      return Promise.reject(
        new EngineError(
          "tts",
          "unknown",
          `Kokoro synthesis queue is full: ${this.active} running and ${this.waiters.length} waiting ` +
            `(maxWaiting ${this.options.maxWaiting}); too many calls are speaking at once for one in-process model`,
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
        reject(ttsAbortedError());
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
    return settleEarlyOnAbort(work, signal);
  }
}

function settleEarlyOnAbort<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(ttsAbortedError());
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
