/**
 * `npm run bench`: runs every benchmark section, prints one table and writes bench/results.json.
 * A section is a module exporting a function that returns BenchRows; add new ones to SECTIONS.
 */
import { fileURLToPath } from "node:url";
import { runAudioBench } from "./audio.bench.js";
import type { BenchRow } from "./measure.js";
import { formatTable, writeResults } from "./report.js";

const SECTIONS: readonly (() => BenchRow[] | Promise<BenchRow[]>)[] = [runAudioBench];

const rows: BenchRow[] = [];
for (const section of SECTIONS) rows.push(...(await section()));

console.log(formatTable(rows));
const resultsPath = fileURLToPath(new URL("./results.json", import.meta.url));
writeResults(resultsPath, rows);
console.log(`\nwritten to ${resultsPath}`);
