/**
 * XState's `SimulatedClock`, plus what replay needs and it keeps private: when the next timer is due. The
 * driver moves time one due timer at a time, so a timer fires with the clock reading its own due time and any
 * timer it sets starts from there, exactly as on a real clock (`SimulatedClock.set` alone would fire every
 * overdue timer at the target time).
 */
import { SimulatedClock } from "xstate";
import type { ReadableClock } from "../../machines/call-actor.js";

/** Smallest step that moves a due time past floating-point rounding of `start + timeout`. */
const NUDGE_MS = 1e-6;

export class ReplayClock implements ReadableClock {
  private readonly simulated = new SimulatedClock();
  private readonly pending = new Map<number, number>();

  now(): number {
    return this.simulated.now();
  }

  setTimeout(fn: (...args: unknown[]) => void, timeout: number): number {
    const id: number = this.simulated.setTimeout(() => {
      this.pending.delete(id);
      fn();
    }, timeout);
    this.pending.set(id, this.now() + timeout);
    return id;
  }

  clearTimeout(id: number): void {
    this.pending.delete(id);
    this.simulated.clearTimeout(id);
  }

  /** When the earliest pending timer is due; undefined when none is. */
  nextDue(): number | undefined {
    return this.earliest()?.[1];
  }

  /** Moves time forward to `time`, or to just short of the next due timer if that comes first: fires nothing. */
  moveTo(time: number): void {
    const due = this.nextDue();
    const target = due !== undefined && due <= time ? due - NUDGE_MS : time;
    if (target > this.now()) this.simulated.set(target);
  }

  /** Moves time to the earliest due timer and fires it (and any other due at the same moment). */
  fireNext(): void {
    const next = this.earliest();
    if (!next) return;
    const [id, due] = next;
    this.simulated.set(Math.max(due, this.now()));
    // `start + timeout` may round below the sum SimulatedClock compares against: nudge until it fires.
    while (this.pending.has(id)) this.simulated.set(this.now() + NUDGE_MS);
  }

  private earliest(): [number, number] | undefined {
    let earliest: [number, number] | undefined;
    for (const entry of this.pending) if (!earliest || entry[1] < earliest[1]) earliest = entry;
    return earliest;
  }
}
