/**
 * Waits that end at an exact time, delivered the way an engine's reply arrives: as a message the event loop
 * picks up when it gets to it.
 *
 * Node's timers work in whole milliseconds and may fire up to a millisecond early or late, which would blur a
 * figure whose target is 2 ms. Here a timer thread (deadline-worker.mjs) wakes within microseconds of each
 * deadline and posts a message to this thread. If this thread is busy at that moment, the message waits in the
 * event loop like a network packet would, and that delay is counted against the orchestrator, as it should be.
 *
 * The timer thread needs a core to post, and when every core is busy it gets one late: a network reply, which
 * the kernel receives whatever the processes are doing, would not be. So each wait says how late the timer
 * thread posted (`engineLateMs`), for the bench to count as the engine's time rather than the orchestrator's.
 */
import { MessageChannel, Worker } from "node:worker_threads";
import { EngineError } from "../../machines/engines.js";

type Engine = "llm" | "tts";

export class DeadlineTimer {
  private readonly channel = new MessageChannel();
  private readonly wake = new Int32Array(new SharedArrayBuffer(4));
  private readonly waiting = new Map<number, (postedAt: number) => void>();
  private nextId = 1;

  constructor() {
    const worker = new Worker(new URL("./deadline-worker.mjs", import.meta.url), {
      workerData: { port: this.channel.port2, wakeBuffer: this.wake.buffer },
      transferList: [this.channel.port2],
    });
    // Neither the thread nor its port may keep the process alive: the server's socket does that.
    worker.unref();
    this.channel.port1.on("message", ([id, postedAt]: [number, number]) => {
      const done = this.waiting.get(id);
      this.waiting.delete(id);
      done?.(postedAt);
    });
    this.channel.port1.unref();
  }

  /**
   * Resolves once `performance.now()` reaches `deadline`, with how many ms after it the timer thread posted
   * (`engineLateMs`); rejects with an engine abort when `signal` aborts first.
   */
  sleepUntil(deadline: number, signal: AbortSignal, engine: Engine): Promise<{ engineLateMs: number }> {
    if (signal.aborted) return Promise.reject(aborted(engine));
    const id = this.nextId++;
    const due = monotonicMs() + (deadline - performance.now());
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        this.waiting.delete(id);
        this.post(id, null);
        reject(aborted(engine));
      };
      signal.addEventListener("abort", onAbort, { once: true });
      this.waiting.set(id, (postedAt) => {
        signal.removeEventListener("abort", onAbort);
        resolve({ engineLateMs: Math.max(0, postedAt - due) });
      });
      this.post(id, due);
    });
  }

  private post(id: number, deadline: number | null): void {
    this.channel.port1.postMessage({ id, deadline });
    Atomics.add(this.wake, 0, 1);
    Atomics.notify(this.wake, 0);
  }
}

/** The clock the timer thread reads too (performance.now() has a different origin in every thread). */
function monotonicMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}

export function aborted(engine: Engine): EngineError {
  return new EngineError(engine, "aborted", `${engine} request aborted`);
}
