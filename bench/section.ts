/** What one benchmark section gives back: its table rows and, for results.json, the numbers behind them. */
import type { BenchRow } from "./measure.js";

export interface SectionResult {
  rows: BenchRow[];
  details?: unknown;
}

export interface Section {
  /** Used by `--only`. */
  name: string;
  /** Roughly how long it runs, printed before it starts. */
  duration: string;
  run(): SectionResult | Promise<SectionResult>;
}
