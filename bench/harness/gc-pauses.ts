/**
 * The server's garbage-collection pauses, to tell a slow turn that waited on the collector from one that
 * waited on our code. A pause stops the event loop; when it falls inside the part of a turn the orchestrator
 * is responsible for (not the engines' own wait), that turn is late by the overlap.
 */
import { constants, type PerformanceEntry, PerformanceObserver } from "node:perf_hooks";

export interface GcSummary {
  /** Young-generation collections (scavenges): frequent, short. */
  scavenges: number;
  scavengeMaxMs: number;
  /** Full mark-compact pauses (the final, stop-the-world part of a major collection). */
  majors: number;
  majorMaxMs: number;
  /** Every pause in the window, added up. */
  totalMs: number;
}

interface Pause {
  start: number;
  end: number;
  kind: number;
}

/** Pauses older than this are dropped: every question asked of them is about the last window or report. */
const KEEP_MS = 120_000;

export class GcPauses {
  private pauses: Pause[] = [];
  private readonly observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      const kind = (entry as PerformanceEntry & { detail?: { kind?: number } }).detail?.kind ?? 0;
      this.pauses.push({ start: entry.startTime, end: entry.startTime + entry.duration, kind });
    }
    const horizon = performance.now() - KEEP_MS;
    if ((this.pauses[0]?.end ?? horizon) < horizon) this.pauses = this.pauses.filter((p) => p.end >= horizon);
  });

  constructor() {
    this.observer.observe({ entryTypes: ["gc"] });
  }

  /** Pauses that began at or after `since` (performance.now() of this process). */
  summarySince(since: number): GcSummary {
    const summary: GcSummary = { scavenges: 0, scavengeMaxMs: 0, majors: 0, majorMaxMs: 0, totalMs: 0 };
    for (const pause of this.pauses) {
      if (pause.start < since) continue;
      const ms = pause.end - pause.start;
      summary.totalMs += ms;
      if (pause.kind === constants.NODE_PERFORMANCE_GC_MINOR) {
        summary.scavenges += 1;
        summary.scavengeMaxMs = Math.max(summary.scavengeMaxMs, ms);
      } else if (pause.kind === constants.NODE_PERFORMANCE_GC_MAJOR) {
        summary.majors += 1;
        summary.majorMaxMs = Math.max(summary.majorMaxMs, ms);
      }
    }
    return summary;
  }

  /** ms of collector pauses inside the spans, given flat as [from, to, from, to, ...]. */
  overlapMs(spans: readonly number[]): number {
    let total = 0;
    for (let i = 0; i + 1 < spans.length; i += 2) {
      const from = spans[i] as number;
      const to = spans[i + 1] as number;
      for (const pause of this.pauses) {
        total += Math.max(0, Math.min(to, pause.end) - Math.max(from, pause.start));
      }
    }
    return total;
  }
}
