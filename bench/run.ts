/**
 * `npm run bench`: runs every benchmark section, prints one table and writes bench/results.json.
 * `npm run bench -- --only turn,memory` runs some sections (their rows alone go to results.json).
 * A section is a module whose function returns rows (and details for results.json); add new ones to SECTIONS.
 */
import { fileURLToPath } from "node:url";
import { runAudioBench } from "./audio.bench.js";
import { runCapacityBench } from "./capacity.bench.js";
import { runKokoroBench } from "./kokoro.bench.js";
import type { BenchRow } from "./measure.js";
import { runMemoryBench } from "./memory.bench.js";
import { formatTable, writeResults } from "./report.js";
import type { Section } from "./section.js";
import { runTurnBench } from "./turn.bench.js";

const SECTIONS: readonly Section[] = [
  { name: "audio", duration: "10 s", run: () => ({ rows: runAudioBench() }) },
  { name: "turn", duration: "1.5 min", run: runTurnBench },
  { name: "capacity", duration: "2-4 min", run: runCapacityBench },
  { name: "memory", duration: "1 min", run: runMemoryBench },
  { name: "kokoro", duration: "10 s", run: runKokoroBench },
];

const chosen = selectedSections(process.argv.slice(2));
const rows: BenchRow[] = [];
const details: Record<string, unknown> = {};
const startedAt = performance.now();
for (const section of chosen) {
  console.log(`[bench] ${section.name} (about ${section.duration})...`);
  const sectionStartedAt = performance.now();
  const result = await section.run();
  rows.push(...result.rows);
  details[section.name] = result.details ?? null;
  console.log(`[bench] ${section.name} done in ${seconds(sectionStartedAt)} s`);
}

console.log(`\n${formatTable(rows)}`);
const resultsPath = fileURLToPath(new URL("./results.json", import.meta.url));
writeResults(resultsPath, rows, details);
console.log(`\n${chosen.length} sections in ${seconds(startedAt)} s; written to ${resultsPath}`);

function selectedSections(args: readonly string[]): readonly Section[] {
  const at = args.indexOf("--only");
  if (at === -1) return SECTIONS;
  const names = (args[at + 1] ?? "").split(",").filter((name) => name !== "");
  const unknown = names.filter((name) => !SECTIONS.some((section) => section.name === name));
  if (names.length === 0 || unknown.length > 0) {
    const known = SECTIONS.map((section) => section.name).join(", ");
    console.error(`--only takes a comma-separated list of sections (${known}); got "${args[at + 1] ?? ""}"`);
    process.exit(2);
  }
  return SECTIONS.filter((section) => names.includes(section.name));
}

function seconds(since: number): string {
  return ((performance.now() - since) / 1000).toFixed(0);
}
