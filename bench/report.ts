/** Prints the benchmark table and writes bench/results.json. */
import { writeFileSync } from "node:fs";
import { cpus, totalmem } from "node:os";
import { type BenchRow, meetsTarget, type Target } from "./measure.js";

export function formatTable(rows: readonly BenchRow[]): string {
  const header = ["section", "measurement", "value", "target", "status", "note"];
  const lines = rows.map((row) => {
    const met = meetsTarget(row);
    return [
      row.section,
      row.name,
      row.value === null ? "n/a" : `${formatNumber(row.value)} ${row.unit}`,
      row.target === undefined ? "-" : formatTarget(row.target, row.unit),
      met === null ? (row.target !== undefined && row.value === null ? "n/a" : "") : met ? "ok" : "MISSED",
      row.note ?? "",
    ];
  });
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

export function writeResults(
  path: string,
  rows: readonly BenchRow[],
  details: Record<string, unknown>,
): void {
  const results = {
    generatedAt: new Date().toISOString(),
    node: process.version,
    cpu: cpus()[0]?.model ?? "unknown",
    cores: cpus().length,
    memoryBytes: totalmem(),
    rows: rows.map((row) => ({ ...row, met: meetsTarget(row) })),
    details,
  };
  writeFileSync(path, `${JSON.stringify(results, null, 2)}\n`);
}

function formatTarget(target: Target, unit: string): string {
  return "atLeast" in target
    ? `>= ${formatNumber(target.atLeast)} ${unit}`
    : `<= ${formatNumber(target.atMost)} ${unit}`;
}

function formatNumber(value: number): string {
  if (value === 0) return "0";
  return Math.abs(value) >= 100 ? Math.round(value).toLocaleString("en-US") : value.toPrecision(3);
}
