/** Prints the benchmark table and writes bench/results.json. */
import { writeFileSync } from "node:fs";
import { cpus } from "node:os";
import type { BenchRow } from "./measure.js";

export function formatTable(rows: readonly BenchRow[]): string {
  const header = ["section", "measurement", "value", "target", "status"];
  const lines = rows.map((row) => [
    row.section,
    row.name,
    `${formatNumber(row.value)} ${row.unit}`,
    row.target === undefined ? "-" : `>= ${formatNumber(row.target)} ${row.unit}`,
    row.target === undefined ? "" : row.value >= row.target ? "ok" : "MISSED",
  ]);
  const widths = header.map((title, column) =>
    Math.max(title.length, ...lines.map((line) => line[column]?.length ?? 0)),
  );
  const render = (cells: readonly string[]) =>
    cells
      .map((cell, column) => cell.padEnd(widths[column] ?? 0))
      .join("  ")
      .trimEnd();
  return [render(header), render(widths.map((width) => "-".repeat(width))), ...lines.map(render)].join("\n");
}

export function writeResults(path: string, rows: readonly BenchRow[]): void {
  const results = {
    generatedAt: new Date().toISOString(),
    node: process.version,
    cpu: cpus()[0]?.model ?? "unknown",
    cores: cpus().length,
    rows: rows.map((row) => ({ ...row, met: row.target === undefined ? null : row.value >= row.target })),
  };
  writeFileSync(path, `${JSON.stringify(results, null, 2)}\n`);
}

function formatNumber(value: number): string {
  return value >= 100 ? Math.round(value).toLocaleString("en-US") : value.toPrecision(3);
}
