/**
 * The layers of the repository and what each may import: one table, checked against an import graph. A
 * broken rule reads "machines/x.ts imports src/y.ts: the call core imports nothing from src/ (see
 * ARCHITECTURE.md)".
 */
import { type ImportEdge, type ImportGraph, type ImportTarget, resolveImport } from "./import-graph.js";

export const LAYERS = ["machines", "src", "tools", "scripts", "bench", "test"] as const;
export type Layer = (typeof LAYERS)[number];

const SEE = "(see ARCHITECTURE.md)";

interface LayerRule {
  /** How a broken rule names the layer. */
  who: string;
  /** Whether its files may import files under this top-level folder (or this file of the root). */
  mayImportFrom: (top: string) => boolean;
  /** The only npm packages it may import; absent: any. */
  packages?: readonly string[];
  builtins: boolean;
}

const only =
  (...allowed: string[]) =>
  (top: string) =>
    allowed.includes(top);
const anythingBut =
  (...forbidden: string[]) =>
  (top: string) =>
    !forbidden.includes(top);

const LAYER_RULES: Record<Layer, LayerRule> = {
  // The statechart, its child actors and the engine ports. No SDK, no I/O and nothing of the server: the
  // engines reach it through ports (machines/engines.ts), so the same core runs under the server, the tests
  // and the tape replayer.
  machines: { who: "the call core", mayImportFrom: only("machines"), packages: ["xstate"], builtins: false },
  // What `npm run build` compiles and `npm start` runs is src/ and machines/ (tsconfig.build.json).
  src: { who: "the server", mayImportFrom: only("src", "machines"), builtins: true },
  // The simulated caller phones the server from outside; it shares the server's audio and protocol code.
  tools: { who: "the simulated caller", mayImportFrom: only("tools", "src", "machines"), builtins: true },
  // Command-line entry points; what they take from test/ is named in ALLOWANCES.
  scripts: { who: "a script", mayImportFrom: anythingBut("test", "bench"), builtins: true },
  bench: { who: "a benchmark", mayImportFrom: only("bench", "src", "machines", "tools"), builtins: true },
  test: { who: "a test", mayImportFrom: () => true, builtins: true },
};

/** An import the layer rules would refuse, allowed: files under `from` may import files under `to`. */
interface Allowance {
  from: string;
  to: string;
}

const ALLOWANCES: readonly Allowance[] = [
  // `npm run dev:fakes` serves the test suite's fakes of Deepgram, the LLM, speech, Whisper, Piper and Twilio
  // REST, so the agent runs without an account: one fake per engine, the one the tests keep honest.
  { from: "scripts/dev-fakes.ts", to: "test/fakes/" },
  // The recorder records the scenarios test/e2e/fixture-scenarios.ts defines, on the voice stack the
  // end-to-end tests run: a tape and the test that replays it (test/tapes) cannot describe different calls.
  { from: "scripts/record-fixture-tapes.ts", to: "test/e2e/" },
  // Benchmarks run the real clients against the test suite's fake servers and stand-in models, so they need
  // no account, GPU or model download.
  { from: "bench/", to: "test/fakes/" },
];

/** Imports within a layer that break its structure. */
const BOUNDARIES: readonly { from: string; to: string; rule: string }[] = [
  // main.ts starts the server when it is loaded.
  { from: "src/", to: "src/main.ts", rule: "nothing in src/ imports the entry point src/main.ts" },
  // Adapters implement the call core's engine ports; the HTTP and Twilio sides are wired up around them.
  { from: "src/engines/", to: "src/routes/", rule: "an engine adapter imports nothing from src/routes/" },
  { from: "src/engines/", to: "src/twilio/", rule: "an engine adapter imports nothing from src/twilio/" },
];

/** Every import of `graph` that breaks a rule, as a sentence naming the file, the import and the rule. */
export function layerViolations(graph: ImportGraph): string[] {
  const files = new Set(graph.files);
  return graph.imports.flatMap((edge) => {
    const target = resolveImport(edge, files);
    const rule = brokenRule(edge, target);
    const imported = target.kind === "file" ? target.path : edge.specifier;
    return rule === undefined ? [] : [`${edge.from} imports ${imported}: ${rule} ${SEE}`];
  });
}

/** The allowances no import of `graph` needs any more, as "from -> to". */
export function unusedAllowances(graph: ImportGraph): string[] {
  const files = new Set(graph.files);
  const used = new Set(
    graph.imports.map((edge) => {
      const target = resolveImport(edge, files);
      return target.kind === "file" ? allowanceFor(edge.from, target.path) : undefined;
    }),
  );
  return ALLOWANCES.filter((allowance) => !used.has(allowance)).map(({ from, to }) => `${from} -> ${to}`);
}

function brokenRule(edge: ImportEdge, target: ImportTarget): string | undefined {
  const layer = LAYERS.find((name) => edge.from.startsWith(`${name}/`));
  if (layer === undefined) return undefined;
  const rule = LAYER_RULES[layer];
  switch (target.kind) {
    case "builtin":
      return rule.builtins ? undefined : `${rule.who} imports no Node built-in`;
    case "package":
      return rule.packages === undefined || rule.packages.includes(target.name)
        ? undefined
        : `${rule.who} imports no npm package but ${rule.packages.join(", ")}`;
    case "file": {
      const [top = "", ...rest] = target.path.split("/");
      if (!rule.mayImportFrom(top) && allowanceFor(edge.from, target.path) === undefined) {
        return `${rule.who} imports nothing from ${rest.length > 0 ? `${top}/` : top}`;
      }
      return BOUNDARIES.find(({ from, to }) => edge.from.startsWith(from) && target.path.startsWith(to))
        ?.rule;
    }
  }
}

function allowanceFor(from: string, to: string): Allowance | undefined {
  return ALLOWANCES.find((allowance) => from.startsWith(allowance.from) && to.startsWith(allowance.to));
}
