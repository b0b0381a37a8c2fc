/**
 * The timer thread behind deadline-timer.ts. It sleeps with Atomics.wait, which wakes within microseconds of
 * its timeout (Node's own timers round to whole milliseconds), and posts `[id, postedAt]` for each deadline
 * reached back to the main thread: `postedAt` says how late this thread itself was (it needs a free core too). It runs no event loop: requests are read with receiveMessageOnPort after every wake-up,
 * and the main thread bumps `wake[0]` and notifies after posting one, so a sleep never outlasts a new request.
 */
import { receiveMessageOnPort, workerData } from "node:worker_threads";

/** @type {{ port: import("node:worker_threads").MessagePort, wakeBuffer: SharedArrayBuffer }} */
const { port, wakeBuffer } = workerData;
const wake = new Int32Array(wakeBuffer);
/** Deadline (ms on the monotonic clock both threads read) of each pending id. */
const deadlines = new Map();
const IDLE_WAIT_MS = 1000;

const now = () => Number(process.hrtime.bigint()) / 1e6;

for (;;) {
  const seen = Atomics.load(wake, 0);
  for (let received = receiveMessageOnPort(port); received; received = receiveMessageOnPort(port)) {
    const { id, deadline } = received.message;
    if (deadline === null) deadlines.delete(id);
    else deadlines.set(id, deadline);
  }
  const time = now();
  let next = Number.POSITIVE_INFINITY;
  for (const [id, deadline] of deadlines) {
    if (deadline <= time) {
      deadlines.delete(id);
      port.postMessage([id, now()]);
    } else if (deadline < next) {
      next = deadline;
    }
  }
  Atomics.wait(wake, 0, seen, next === Number.POSITIVE_INFINITY ? IDLE_WAIT_MS : next - now());
}
