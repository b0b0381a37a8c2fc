/**
 * `npm run bench`: runs every benchmark section, prints one table and writes bench/results.json.
 * `npm run bench -- --only turn,memory` runs some sections (their rows alone go to results.json).
 * A section is a module whose function returns rows (and details for results.json); add new ones to SECTIONS.
 * `npm run bench -- --help` prints the usage and runs nothing.
 */
import { fileURLToPath } from "node:url";
import { runAudioBench } from "./audio.bench.js";
import { runCapacityBench } from "./capacity.bench.js";
import { benchUsage, parseBenchArgs } from "./command-line.js";
import { runKokoroBench } from "./kokoro.bench.js";
import type { BenchRow } from "./measure.js";
import { runMemoryBench } from "./memory.bench.js";
import { formatTable, writeResults } from "./report.js";
import type { Section } from "./section.js";
import { runTurnBench } from "./turn.bench.js";
import { runVadBench } from "./vad.bench.js";
import { runWhisperTurnBench } from "./whisper-turn.bench.js";

const SECTIONS: readonly Section[] = [
  { name: "audio", duration: "10 s", run: () => ({ rows: runAudioBench() }) },
  { name: "turn", duration: "1.5 min", run: runTurnBench },
  { name: "capacity", duration: "2-4 min", run: runCapacityBench },
  { name: "memory", duration: "1 min", run: runMemoryBench },
  { name: "kokoro", duration: "10 s", run: runKokoroBench },
  { name: "vad", duration: "30 s", run: runVadBench },
  { name: "whisper", duration: "20 s", run: runWhisperTurnBench },
];

const command = parseBenchArgs(process.argv.slice(2), SECTIONS);
if (command.kind === "help") {
  console.log(benchUsage(SECTIONS));
  process.exit(0);
}
if (command.kind === "mistake") {
  console.error(`${command.message}\n\n${benchUsage(SECTIONS)}`);
  process.exit(2);
}
const chosen = SECTIONS.filter((section) => command.names.includes(section.name));
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

function seconds(since: number): string {
  return ((performance.now() - since) / 1000).toFixed(0);
}
