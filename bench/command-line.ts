/**
 * What `npm run bench -- ...` asked for: the usage text, some sections, or a mistake to explain. Kept apart
 * from run.ts so asking for help never imports, let alone starts, a benchmark.
 */
export interface SectionInfo {
  name: string;
  duration: string;
}

export type BenchCommand =
  | { kind: "help" }
  | { kind: "run"; names: readonly string[] }
  | { kind: "mistake"; message: string };

export function benchUsage(sections: readonly SectionInfo[]): string {
  const list = sections.map((s) => `  ${s.name.padEnd(10)} about ${s.duration}`).join("\n");
  return `Usage: npm run bench [-- --only SECTION[,SECTION...]]

Runs every benchmark section (or the ones named), prints one table and writes bench/results.json.

Sections:
${list}

  --only LIST   comma-separated sections to run
  -h, --help    print this and exit`;
}

export function parseBenchArgs(args: readonly string[], sections: readonly SectionInfo[]): BenchCommand {
  if (args.includes("--help") || args.includes("-h")) return { kind: "help" };
  const known = sections.map((s) => s.name);
  const stray = args.filter((arg, index) => arg !== "--only" && args[index - 1] !== "--only");
  if (stray.length > 0) return { kind: "mistake", message: `unknown argument "${stray[0]}"` };
  const at = args.indexOf("--only");
  if (at === -1) return { kind: "run", names: known };
  const names = (args[at + 1] ?? "").split(",").filter((name) => name !== "");
  const unknown = names.filter((name) => !known.includes(name));
  if (names.length === 0 || unknown.length > 0) {
    return {
      kind: "mistake",
      message: `--only takes a comma-separated list of sections (${known.join(", ")}); got "${args[at + 1] ?? ""}"`,
    };
  }
  return { kind: "run", names: known.filter((name) => names.includes(name)) };
}
